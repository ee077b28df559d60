"""Imports for examples that need one of jax-tvm-ffi's optional extras (not run on its own).

An example whose extra is not installed says how to get it and exits with status 0, since the
missing package is a choice of the installation, not a failure of the example.
"""

import importlib
from types import ModuleType

# What each extra installs, as pyproject.toml's [project.optional-dependencies] declares it.
REQUIREMENTS = {
    "orcjit": "apache-tvm-ffi-orcjit>=0.1.2",
    "tvm": "apache-tvm>=0.26",
    "test": "flatbuffers",
}


def import_extra(module: str, extra: str, example: str) -> ModuleType | None:
    """Imports ``module``, which the ``extra`` extra installs; None if it is not installed.

    When it is missing, prints one line saying so and how to install it. An import that fails
    on something else (a broken installation of the extra) raises as usual.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module.split(".")[0]:
            raise
    print(
        f'{example}: skipped: needs the "{extra}" extra ({module} is not installed). '
        f'Install it with: pip install "{REQUIREMENTS[extra]}" '
        f'(or, from a clone of jax-tvm-ffi: pip install ".[{extra}]")'
    )
    return None
