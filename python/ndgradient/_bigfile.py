"""``ndgradient compute`` on files bigger than memory: ``.npy`` in, ``.npy`` out, window by
window.

The input is never mapped whole: each window (`_windows.Windows`) maps its own layers and
their faces, and each output maps the window's layers, both unmapped before the next window,
so the address space and the resident memory the command needs stay about one window's
whatever the file size (it runs under an ``RLIMIT_AS`` smaller than its files). Outputs are
``.npy`` files written under a temporary name in their target directory, their whole size
reserved before the first window, and renamed to their final names only once every window is
written: an error, a full disk, Ctrl-C or SIGTERM leaves no file under a final name that
is not complete, and no temporary one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal, NamedTuple, TextIO

import numpy as np

from ._patch import gradient
from ._rules import NotNative, normalized_axes, resolve_workers, result_dtype
from ._windows import Windows, plan_windows, window_axis, window_bytes

__all__ = [
    "NpyHeader",
    "Progress",
    "UsageError",
    "compute",
    "final_paths",
    "npy_header",
    "output_kind",
    "save_arrays",
    "size_text",
]


class UsageError(Exception):
    """A problem with the command line or its files, reported as ``ndgradient: error: ...``."""


class NpyHeader(NamedTuple):
    """Where an ``.npy`` file's data starts, and what it holds."""

    offset: int
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    fortran_order: bool


def output_kind(output: str) -> str:
    """``"directory"`` (ends with a path separator, or is one), ``"npy"`` or ``"npz"``."""
    if output.endswith(("/", os.sep)) or os.path.isdir(output):
        return "directory"
    for suffix in ("npy", "npz"):
        if output.endswith(f".{suffix}"):
            return suffix
    raise UsageError(
        f"output {output!r} must end in .npz (or .npy for one axis or --stack, or / for a "
        "directory of one .npy per axis)"
    )


def npy_header(path: str) -> NpyHeader | None:
    """The header of the ``.npy`` file at ``path``; None for anything else (a missing file,
    an ``.npz``, a format version or dtype this reader leaves to ``np.load``)."""
    try:
        with open(path, "rb") as fp:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                return None
            offset = fp.tell()
    except (OSError, ValueError, EOFError):
        return None
    if dtype.hasobject or not shape:
        return None  # object arrays need pickle; 0-d arrays have no axis to window
    return NpyHeader(offset, dtype, tuple(shape), bool(fortran_order))


def size_text(nbytes: float) -> str:
    """A byte count for people: ``"3.2 GB"``, ``"640 MB"``, ``"12 kB"`` (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            value = nbytes / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(nbytes)} B"


# ------------------------------------------------------------------------------------------
# Outputs: temporary names, reserved space, renamed at the end
# ------------------------------------------------------------------------------------------


@dataclass
class _OutputFile:
    """One ``.npy`` output: its final name and the temporary one it is written under."""

    final: Path
    temporary: Path | None = None
    offset: int = 0  # where its data starts, once its header is written


def final_paths(output: str, kind: str, axes: Sequence[int], stack: bool) -> list[Path]:
    """The files the outputs are written to: one per axis in a directory, or one ``.npy``."""
    if kind == "directory":
        return [Path(output) / f"axis{a}.npy" for a in axes]
    if len(axes) != 1 and not stack:
        raise UsageError(
            f"{len(axes)} gradients (axes {list(axes)}) need an .npz output, a directory "
            "(-o DIR/) or --stack, not .npy"
        )
    return [Path(output)]


@contextlib.contextmanager
def _temporaries(finals: Sequence[Path]) -> Iterator[list[_OutputFile]]:
    """Temporary files beside each final name, renamed to it when the block completes and
    removed if it does not (an error, Ctrl-C, or SIGTERM, which exits through here too).

    Ctrl-C and SIGTERM stop the command only while the block runs (`_Stop`): while
    temporaries are made, renamed or removed they wait, so that none is made without being
    recorded for removal, and no removal is cut short.
    """
    outputs = [_OutputFile(final) for final in dict.fromkeys(finals)]
    made_directories = []
    stop = _Stop()  # holds signals from the start: only `released` sections stop at once
    try:
        stop.install()  # before the first file: a SIGTERM then exits through here
        for output in outputs:
            directory = output.final.parent
            try:
                if not directory.is_dir():
                    directory.mkdir(parents=True)
                    made_directories.append(directory)
                output.temporary = _new_file(directory, f".{output.final.name}.", ".partial")
            except OSError as err:
                raise UsageError(f"cannot write to {str(directory)!r}: {_reason(err)}") from err
        with stop.released():
            yield outputs
        for output in outputs:  # renamed and recorded, or neither
            assert output.temporary is not None
            try:
                os.replace(output.temporary, output.final)
            except OSError as err:
                raise UsageError(f"cannot write {str(output.final)!r}: {_reason(err)}") from err
            output.temporary = None
    finally:
        # Signals are held here, or one has stopped the command already and the others
        # are not raised: nothing cuts the removal short.
        for output in outputs:
            if output.temporary is not None:
                with contextlib.suppress(OSError):  # one left does not keep the others
                    output.temporary.unlink(missing_ok=True)
        for directory in reversed(made_directories):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only if still empty
        stop.uninstall()  # and stops the command now if a signal came while held


_Handler = Callable[[int, FrameType | None], Any] | int | None  # what getsignal returns


class _Stop:
    """Ctrl-C (``KeyboardInterrupt``) and SIGTERM (``SystemExit(143)``) while the command
    has temporary files: raised in `released` sections only, and once.

    A signal that comes anywhere else is held: it stops the command when the next
    `released` section starts, or at `uninstall`. After the first has stopped the command,
    the others are not raised, so that they cannot cut its cleanup short.

    The handlers hold the signals, not a signal mask: ``pthread_sigmask`` blocks a signal
    in the calling thread only, and the process has others (NumPy's BLAS threads, the
    core's workers). A SIGTERM sent to the process while the main thread blocks it goes to
    one of those, whose C handler flags it, and the main thread runs the Python handler at
    its next bytecode: inside the section the mask was to protect. Python handlers always
    run in the main thread, so one that holds the signal holds it whatever thread took it.
    """

    def __init__(self) -> None:
        self.held = True
        self.stopped = False
        self.pending: int | None = None  # the first signal held
        self.previous: dict[int, _Handler] = {}

    def install(self) -> None:
        """Sets the handlers, in the main thread (elsewhere Python cannot set them; nor do
        they run there, so nothing in that thread needs holding)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(signum)
            if signum == signal.SIGINT and current is not signal.default_int_handler:
                continue  # an ignored Ctrl-C, or a program's own handler: left alone
            self.previous[signum] = current  # recorded first: put back even if cut short
            signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        """Puts the previous handlers back, then raises a signal held until now (unless
        one has stopped the command already)."""
        for signum, previous in self.previous.items():
            # None: a handler not set from Python, which cannot be put back; the default.
            # (`signal.signal` first runs the handlers of signals already caught: ours,
            # which hold them, so none is lost to the handler put back.)
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self.previous.clear()
        self._stop_if_pending()

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """A section Ctrl-C and SIGTERM stop at once, starting with one held before it."""
        self.held = False  # before looking: a signal in between is raised by the handler
        try:
            self._stop_if_pending()
            yield
        finally:
            self.held = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        """The handler of both signals: holds it, or stops the command."""
        if self.held or self.stopped:
            if self.pending is None:
                self.pending = signum
            return
        self._stop(signum)

    def _stop_if_pending(self) -> None:
        if self.pending is not None and not self.stopped:
            self._stop(self.pending)

    def _stop(self, signum: int) -> None:
        """Raises the signal's exception, the only one `_Stop` raises."""
        self.stopped = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done, then stop the command."""
    stop = _Stop()
    try:
        stop.install()
        yield
    finally:
        stop.uninstall()


def _load_core() -> None:
    """Has the core load NumPy's C API, with Ctrl-C and SIGTERM held.

    The core loads it on its first call, running Python code (NumPy's version check); a
    signal's exception raised in that code becomes a panic of the core, and the command
    exits with status 1, not 143 or 130. Loaded here, before the first window, it is not
    loaded in one."""
    with _signals_held():
        gradient(np.zeros(3))


def _new_file(directory: Path, prefix: str, suffix: str) -> Path:
    """A new empty file of a name of its own in ``directory``, with the permissions a new
    file gets there (``tempfile.mkstemp`` would make it private)."""
    while True:
        path = directory / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


def _check_space(finals: Sequence[Path], needed: int, quiet: bool) -> None:
    """Says how much disk the outputs need, and fails before writing if it is not free."""
    directory = finals[0].parent
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # a directory still to be made: its parent's disk
    try:
        free = shutil.disk_usage(existing).free
    except OSError as err:
        raise UsageError(f"cannot write to {str(directory)!r}: {_reason(err)}") from err
    count = f"{len(finals)} file{'s' if len(finals) > 1 else ''}"
    if not quiet:
        print(f"writing {count}, {size_text(needed)}, to {directory} ({size_text(free)} free)")
    if needed > free:
        raise UsageError(
            f"the output needs {size_text(needed)} ({needed} bytes) in {str(directory)!r}, "
            f"which has {size_text(free)} free"
        )


def _write_header(
    output: _OutputFile, dtype: np.dtype[Any], shape: tuple[int, ...], fortran_order: bool
) -> None:
    """Writes an ``.npy`` header to the output's temporary file and reserves its data's
    size on disk, so that a full disk is an error now, not a SIGBUS mid-way."""
    assert output.temporary is not None
    header = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": fortran_order,
        "shape": shape,
    }
    nbytes = dtype.itemsize * math.prod(shape)
    try:
        with open(output.temporary, "r+b") as fp:
            try:
                np.lib.format.write_array_header_1_0(fp, header)
            except ValueError:  # a header too long for version 1.0
                fp.seek(0)
                np.lib.format.write_array_header_2_0(fp, header)
            output.offset = fp.tell()
            if nbytes and hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fp.fileno(), output.offset, nbytes)
            fp.truncate(output.offset + nbytes)
    except OSError as err:
        raise _write_error(output, err) from err


def _write_error(output: _OutputFile, err: OSError) -> UsageError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return UsageError(f"no space left for {str(output.final)!r} ({_reason(err)})")
    return UsageError(f"cannot write {str(output.final)!r}: {_reason(err)}")


def save_arrays(
    arrays: Sequence[np.ndarray], finals: Sequence[Path], stack: bool, quiet: bool
) -> None:
    """Saves arrays computed in memory as ``.npy`` files (one stacked file if ``stack``),
    under temporary names renamed at the end."""
    if stack:
        arrays = [np.stack(arrays)]
    _check_space(finals, sum(a.nbytes for a in arrays), quiet)
    with _temporaries(finals) as outputs:
        for array, output in zip(arrays, outputs, strict=True):
            assert output.temporary is not None
            try:
                with open(output.temporary, "wb") as fp:  # a name would get ".npy" added
                    np.save(fp, array, allow_pickle=False)
                _sync(output)
            except OSError as err:
                raise _write_error(output, err) from err


# ------------------------------------------------------------------------------------------
# The computation
# ------------------------------------------------------------------------------------------


def _strides(shape: tuple[int, ...], itemsize: int, fortran_order: bool) -> tuple[int, ...]:
    """The strides of a contiguous array of ``shape`` in C or Fortran order."""
    strides = [0] * len(shape)
    step = itemsize
    for ax in range(len(shape)) if fortran_order else reversed(range(len(shape))):
        strides[ax] = step
        step *= max(shape[ax], 1)
    return tuple(strides)


def _mapped_layers(
    path: Path | str,
    offset: int,
    dtype: np.dtype[Any],
    shape: tuple[int, ...],
    fortran_order: bool,
    axis: int,
    start: int,
    stop: int,
    mode: Literal["r", "r+"],
) -> np.memmap[Any, np.dtype[Any]]:
    """Layers ``[start, stop)`` along ``axis`` of the contiguous array stored at ``offset``
    in ``path``, memory-mapped on their own (they are one run of bytes there)."""
    layer_bytes = dtype.itemsize * math.prod(shape) // shape[axis]
    window_shape = (*shape[:axis], stop - start, *shape[axis + 1 :])
    return np.memmap(
        path,
        dtype=dtype,
        mode=mode,
        offset=offset + start * layer_bytes,
        shape=window_shape,
        order="F" if fortran_order else "C",
    )


def compute(args: Any, header: NpyHeader, spacings: list[Any]) -> bool:
    """``ndgradient compute`` for an ``.npy`` input and ``.npy`` or directory output, window
    by window; False (nothing done) for data only NumPy's code path computes, which the
    caller then computes in memory."""
    shape, dtype = header.shape, header.dtype
    ndim = len(shape)
    strides = _strides(shape, dtype.itemsize, header.fortran_order)
    standin = np.lib.stride_tricks.as_strided(np.zeros((), dtype=dtype), shape, (0,) * ndim)
    try:
        axes = normalized_axes(None if args.axis is None else tuple(args.axis), ndim)
        windows = plan_windows(
            standin,
            tuple(spacings),
            axes,
            args.edge_order,
            None,
            window_axis(shape, strides),
            window_bytes(),
        )
        windows = dataclasses.replace(windows, workers=resolve_workers(args.workers))
    except NotNative:
        return False
    except (ValueError, TypeError, IndexError) as err:  # AxisError is a ValueError
        raise UsageError(f"cannot compute the gradient of {args.input!r}: {err}") from err
    finals = final_paths(args.output, output_kind(args.output), axes, args.stack)
    stacked = bool(args.stack)  # one .npy (the caller refuses --stack with other outputs)
    if stacked and header.fortran_order and ndim > 1:
        raise UsageError(
            "--stack writes the gradients stacked along a new first axis in C order; this "
            "input is Fortran-ordered: write a directory of one .npy per axis (-o DIR/)"
        )
    result = result_dtype(dtype)
    each = result.itemsize * math.prod(shape)
    _check_space(finals, each * len(axes), args.quiet)
    stream = sys.stderr if not args.quiet and sys.stderr.isatty() else None
    _load_core()
    with _temporaries(finals) as outputs:
        # Where each axis's gradient goes: its own file, or its part of the stack.
        if stacked:
            _write_header(outputs[0], result, (len(axes), *shape), False)
            targets = [(outputs[0], k * each) for k in range(len(axes))]
        else:
            for output in outputs:
                _write_header(output, result, shape, header.fortran_order)
            targets = [(output, 0) for output in outputs]
        progress = Progress(stream, len(windows.bounds), dtype.itemsize * math.prod(shape))
        try:
            _fill_files(args.input, header, windows, targets, result, progress)
        except OSError as err:
            raise UsageError(f"cannot compute {args.input!r}: {_reason(err)}") from err
        finally:
            progress.close()
        for output in outputs:
            _sync(output)
    if not args.quiet:
        for a in axes:
            print(f"axis {a}: shape {shape}, dtype {result}")
        print(f"written to {args.output}")
    return True


def _fill_files(
    path: str,
    header: NpyHeader,
    windows: Windows,
    targets: Sequence[tuple[_OutputFile, int]],
    result: np.dtype[Any],
    progress: Progress,
) -> None:
    """Every window of the input into the outputs, in order, each window's output bytes sent
    on their way to the disk as soon as it is written."""
    layers = math.prod(header.shape) // header.shape[windows.axis]
    layer_bytes, out_layer_bytes = header.dtype.itemsize * layers, result.itemsize * layers
    with contextlib.ExitStack() as stack:
        descriptors = {}
        for output, _ in targets:
            assert output.temporary is not None
            if id(output) not in descriptors:
                descriptors[id(output)] = os.open(output.temporary, os.O_RDONLY)
                stack.callback(os.close, descriptors[id(output)])
        for done, (start, stop) in enumerate(windows.bounds, 1):
            _fill_file_window(path, header, windows, targets, result, start, stop)
            for output, extra in targets:
                where = output.offset + extra + start * out_layer_bytes
                _write_back(descriptors[id(output)], where, (stop - start) * out_layer_bytes)
            progress.update(done, stop * layer_bytes)


def _write_back(descriptor: int, offset: int, length: int) -> None:
    """Starts writing a window's output to the disk without waiting for it, and lets the
    kernel drop the pages once written: Linux's ``POSIX_FADV_DONTNEED`` on dirty pages
    starts their write-back. So the computation of the next windows overlaps the writing
    of this one (``msync`` would wait for it), the dirty memory stays about what the disk
    has not caught up with, and the final sync finds little left. Elsewhere the window was
    flushed already (`_fill_file_window`)."""
    if _STARTS_WRITE_BACK:
        os.posix_fadvise(descriptor, offset, length, os.POSIX_FADV_DONTNEED)


# Where advice starts write-back; elsewhere each window is flushed (msync) before unmapping.
_STARTS_WRITE_BACK = sys.platform.startswith("linux") and hasattr(os, "posix_fadvise")


def _fill_file_window(
    path: str,
    header: NpyHeader,
    windows: Windows,
    targets: Sequence[tuple[_OutputFile, int]],
    result: np.dtype[Any],
    start: int,
    stop: int,
) -> None:
    """One window: the input's layers with their faces and each output's layers mapped,
    filled (and flushed where `_write_back` cannot start the writing). Every mapping is made
    here and dropped on return, so that no two windows are mapped at once."""
    shape, order, ax = header.shape, header.fortran_order, windows.axis
    lo, hi = windows.reads(start, stop)
    slab = _mapped_layers(path, header.offset, header.dtype, shape, order, ax, lo, hi, "r")
    outs = []
    for output, extra in targets:
        assert output.temporary is not None
        where = output.offset + extra
        outs.append(
            _mapped_layers(output.temporary, where, result, shape, order, ax, start, stop, "r+")
        )
    windows.fill(slab.view(np.ndarray), lo, start, stop, [out.view(np.ndarray) for out in outs])
    if not _STARTS_WRITE_BACK:
        for out in outs:
            out.flush()


def _sync(output: _OutputFile) -> None:
    """The output's data and header on disk before its rename makes it final."""
    assert output.temporary is not None
    fd = os.open(output.temporary, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------
# The progress bar
# ------------------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on a terminal: windows done of all, throughput, time left.

    Redrawn at most ten times a second, and once more at the end; with no ``stream`` (not a
    terminal, or ``--quiet``) nothing is drawn. ``clock`` is for tests.
    """

    WIDTH = 24

    def __init__(
        self,
        stream: TextIO | None,
        windows: int,
        total_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.windows = windows
        self.total_bytes = total_bytes
        self.clock = clock
        self.started = clock()
        self.drawn_at = -math.inf
        self.line = ""

    def update(self, done: int, bytes_done: int) -> None:
        """Redraws the bar for ``done`` windows, ``bytes_done`` of the input read."""
        if self.stream is None:
            return
        now = self.clock()
        if done < self.windows and now - self.drawn_at < 0.1:
            return
        self.drawn_at = now
        elapsed = now - self.started
        rate = bytes_done / elapsed if elapsed > 0 else 0.0
        filled = self.WIDTH * done // max(self.windows, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        left = (self.total_bytes - bytes_done) / rate if rate > 0 else math.nan
        line = (
            f"[{bar}] {done}/{self.windows} windows  {rate / 1e6:,.0f} MB/s  "
            f"{_duration(left)} left"
        )
        # Spaces over what a longer previous line left on the screen.
        self.stream.write("\r" + line.ljust(len(self.line)))
        self.stream.flush()
        self.line = line

    def close(self) -> None:
        """Ends the bar's line."""
        if self.stream is not None and self.line:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
