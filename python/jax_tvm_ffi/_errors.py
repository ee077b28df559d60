"""Exception classes that are two built-in classes at once.

Where the published jax-tvm-ffi 0.1.3 raises one built-in class and this package another for the
same mistake, the exception derives from both, so that code written for either package catches
it. Each class names the mistake it stands for.
"""

from __future__ import annotations


class ArgSpecError(ValueError, RuntimeError):
    """An invalid ``arg_spec`` item (0.1.3 raises ``RuntimeError``; this package ``ValueError``)."""


class GlobalFunctionNotFoundError(ValueError, TypeError):
    """No TVM FFI global function has the given name (0.1.3 raises ``TypeError``)."""


class PlatformTypeError(TypeError, ValueError):
    """A platform that is not a ``str`` (0.1.3 raises ``ValueError``; this one ``TypeError``)."""
