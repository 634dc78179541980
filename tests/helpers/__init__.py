"""What the tests stand on that is not a test: the environments they emulate and the services they stand in for.

- ``container``: what a Docker container such as Gradescope's refuses a root process (a seccomp filter).
- ``ordinary_user``: becoming ``nobody``, for tests that run as root and need an ordinary user.
- ``canvas_standin``: a stand-in for the few endpoints of Canvas's REST API that ``canvas --post`` uses.
- ``records``: records built by hand as the grader makes them (the report's and Canvas's tests).
- ``lab``: a real JupyterLab server and a page object that works a notebook like a student (browser tests).

The corpus of submissions is a package of its own (``tests/corpus``); shared fixtures are in ``tests/conftest.py``.
"""
