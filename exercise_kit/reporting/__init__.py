"""What the instructor and the students read: the batch's grades, feedback and summary
(``report``), the Q7 PDFs and scoring sheet (``free_response``, ``manual``), CSV cells made safe
for spreadsheets (``csv_cells``)."""
