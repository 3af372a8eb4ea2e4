"""Results on a Dask cluster have the dtype NumPy gives, byte order included.

A ``distributed`` cluster pickles the data it moves. NumPy unpickles an array of non-native
byte order as a native one (same values, other dtype) whenever the array goes through
``ndarray.__reduce__``, that is below pickle protocol 5 and, at protocol 5, for an array that
is not contiguous, such as the chunk ``dask.array.from_array`` cuts from a multidimensional
array. A task may therefore receive a ``'<c8'`` block of a ``'>c8'`` Dask array; its result
must still have the dtype the Dask array declares, which is NumPy's for the whole array.
Found by hypothesis on tests/test_dask.py's cluster property (issue 15, item 1).
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

pytest.importorskip("dask.array")
pytest.importorskip("distributed")

import dask
import dask.array as da
import ndgradient
import numpy as np
import test_dask
from _oracle import assert_identical, reference
from distributed import Client

# tests/test_dask.py's two-worker LocalCluster, started once for this module too.
client = test_dask.client

# The case from the issue: complex64 in the other byte order ('>c8' on little-endian
# machines), uneven chunks on every axis.
NON_NATIVE = np.dtype(np.complex64).newbyteorder()
DATA = (np.arange(360.0).reshape(9, 8, 5) ** 1.5 * (1 - 0.5j)).astype(NON_NATIVE)
CHUNKS = ((1, 1, 2, 1, 4), (3, 1, 2, 2), (1, 1, 3))

SPACINGS = [
    # Complex data with a NumPy scalar spacing that promotes less far than ``2. * dx``:
    # NumPy's own code path, block by block, whose result follows the block's dtype.
    pytest.param((np.True_,), id="numpy-code-path"),
    # The core: outputs allocated in the declared dtype, whatever the block's byte order.
    pytest.param((), id="core"),
    pytest.param((0.5, np.float32(2), np.arange(5.0) ** 2), id="core-per-axis"),
]


def test_the_cluster_unpickles_a_chunk_in_native_byte_order() -> None:
    """NumPy's behaviour that the cluster tests below depend on; if NumPy changes it, they
    still check the dtypes but no longer exercise a block of another byte order."""
    chunk = DATA[0:3, 0:4]
    assert not chunk.flags.c_contiguous
    received = pickle.loads(pickle.dumps(chunk, protocol=5))
    assert received.dtype == NON_NATIVE.newbyteorder()
    assert (received == chunk).all()


@pytest.mark.parametrize("varargs", SPACINGS)
def test_a_cluster_gives_numpys_dtype_for_non_native_data(
    client: Client, varargs: tuple[Any, ...]
) -> None:
    expected = reference(DATA, *varargs)
    lazy = ndgradient.gradient(da.from_array(DATA, chunks=CHUNKS), *varargs)
    assert [g.dtype.str for g in lazy] == [w.dtype.str for w in expected] == [NON_NATIVE.str] * 3
    # The synchronous scheduler passes blocks as they are: the control.
    assert_identical(dask.compute(*lazy, scheduler="synchronous"), expected)
    assert_identical(tuple(client.gather(client.compute(list(lazy)))), expected)
