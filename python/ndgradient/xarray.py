"""xarray: ``differentiate`` computed by ndgradient, for NumPy- and Dask-backed objects.

``ndgradient.xarray.differentiate(obj, coord)`` gives what ``obj.differentiate(coord)`` gives
(values, dims, coordinates, names and attributes, bit for bit), with every gradient computed
by `ndgradient.gradient`: in one parallel pass for NumPy-backed variables, block by block with
a one-cell halo for Dask-backed ones. Importing this module imports xarray; importing
ndgradient does not.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, TypeVar

from ._patch import gradient

if TYPE_CHECKING:
    import xarray

__all__ = ["differentiate"]

_T = TypeVar("_T", "xarray.DataArray", "xarray.Dataset")

# The name a DataArray takes inside the temporary Dataset it is differentiated as.
_UNNAMED = "<ndgradient.xarray.differentiate>"


def differentiate(
    obj: _T,
    coord: Hashable,
    edge_order: int = 1,
    datetime_unit: str | None = None,
) -> _T:
    """
    Differentiate with second-order accurate central differences, as xarray's `differentiate`.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        The values to differentiate, NumPy- or Dask-backed.
    coord : hashable
        The one-dimensional coordinate (or dimension) to differentiate along. Its values are
        the sample positions, used as `ndgradient.gradient`'s coordinate array.
    edge_order : {1, 2}, optional
        N-th order accurate differences at the boundaries. Default: 1.
    datetime_unit : {"W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"}, optional
        The unit of a datetime-like `coord` (and of datetime-like data) to differentiate in.
        Default: the coordinate's own unit, or seconds for cftime objects.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Of `obj`'s type: every data variable that has `coord`'s dimension replaced by its
        derivative along it (without attributes, as xarray gives it); everything else,
        coordinates included, unchanged.

    Raises
    ------
    ValueError
        If `coord` is neither a variable nor a dimension of `obj`, or is not one-dimensional;
        and for `ndgradient.gradient`'s errors (an axis shorter than ``edge_order + 1``, an
        `edge_order` other than 1 or 2, unknown Dask chunk sizes).
    TypeError
        If `obj` is not a DataArray or Dataset.

    See Also
    --------
    xarray.Dataset.differentiate, xarray.DataArray.differentiate : the reference.
    ndgradient.gradient : the computation.

    Notes
    -----
    Datetime-like coordinates and data are converted to numbers by xarray's own conversion
    (the one its `differentiate` uses), relative to their minimum, in `datetime_unit`.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> import ndgradient.xarray
    >>> temperature = xr.DataArray(
    ...     np.array([10.0, 11.0, 13.0, 16.0]), dims="x", coords={"x": [0.0, 1.0, 2.0, 4.0]}
    ... )
    >>> ndgradient.xarray.differentiate(temperature, "x").values
    array([1.        , 1.5       , 1.83333333, 1.5       ])
    """
    import xarray as xr

    if isinstance(obj, xr.DataArray):
        dataset = obj.to_dataset(name=_UNNAMED)
        result = _differentiate_dataset(dataset, coord, edge_order, datetime_unit)[_UNNAMED]
        return result.rename(obj.name)
    if isinstance(obj, xr.Dataset):
        return _differentiate_dataset(obj, coord, edge_order, datetime_unit)
    raise TypeError(
        f"differentiate takes an xarray DataArray or Dataset, got {type(obj).__name__}"
    )


def _differentiate_dataset(
    dataset: xarray.Dataset, coord: Hashable, edge_order: int, datetime_unit: str | None
) -> xarray.Dataset:
    import numpy as np
    import xarray as xr
    from xarray.core.common import _contains_datetime_like_objects

    if coord not in dataset.variables and coord not in dataset.dims:
        names = tuple(set(dataset.variables).union(dataset.dims))
        raise ValueError(f"Coordinate {coord!r} not found in variables or dimensions {names}.")
    coordinate = dataset[coord].variable
    if coordinate.ndim != 1:
        raise ValueError(
            f"Coordinate {coord} must be 1 dimensional but is {coordinate.ndim} dimensional"
        )
    dim = coordinate.dims[0]
    if _contains_datetime_like_objects(coordinate):
        if datetime_unit is None:
            kind = coordinate.dtype.kind
            datetime_unit = np.datetime_data(coordinate.dtype)[0] if kind in "mM" else "s"
        coordinate = coordinate._to_numeric(datetime_unit=datetime_unit)
    derivatives: dict[Hashable, xr.Variable] = {}
    for name, variable in dataset.data_vars.items():
        values = variable.variable
        if dim not in values.dims:
            continue
        if _contains_datetime_like_objects(values):
            values = values._to_numeric(datetime_unit=datetime_unit)
        derivative = gradient(
            values.data,
            np.asarray(coordinate.data),
            axis=values.get_axis_num(dim),
            edge_order=edge_order,  # type: ignore[arg-type]
        )
        derivatives[name] = xr.Variable(values.dims, derivative)
    return dataset.assign(derivatives)
