"""fairdistill.jit.kernel: numba kernels that still compile where numba finds no writable place for its cache."""
import numpy as np

from fairdistill import jit


def _sum_of_squares(v):
    s = 0.0
    for x in v:
        s += x * x
    return s


def test_kernel_compiles_without_a_cache_where_numba_cannot_write_one(monkeypatch):
    real, asked = jit.njit, []

    def no_locator(**options):
        asked.append(options)
        decorate = real(**options)

        def apply(fn):
            if options.get("cache"):  # what numba raises when neither the package folder nor a user cache is writable
                raise RuntimeError(f"cannot cache function {fn.__name__!r}: no locator available for file")
            return decorate(fn)
        return apply

    monkeypatch.setattr(jit, "njit", no_locator)
    f = jit.kernel(_sum_of_squares)
    assert asked == [{"nogil": True, "cache": True}, {"nogil": True}]
    assert f(np.arange(4.0)) == 14.0 and f.targetoptions.get("nogil")

