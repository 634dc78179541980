"""What learning-management systems give and take: their downloads (``downloads``), Canvas's
gradebook and API (``canvas``, ``canvas_post``), Gradescope's autograder zip (``gradescope``)."""
