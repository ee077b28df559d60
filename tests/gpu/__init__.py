"""The GPU suite (see conftest.py).

A package, so that its conftest.py does not shadow tests/conftest.py as the module `conftest`.
"""
