"""Grading: a batch of submissions (``batch``), and one submission through its stages in order
(``submission``): ``unpack``, run and ``watch`` the grading ``child``, take the kernel's
``values``, score them (``verdicts``) into a ``record``."""
