"""Which cells take a question's values: a real ``grader.check`` call, nothing else (values stage)."""

from exercise_kit.values import checked_questions


def test_a_real_call_takes_its_question():
    assert checked_questions('grader.check("q1_data")') == ["q1_data"]
    assert checked_questions("x = 1\ngrader.check('q3_training')\ngrader.check('q1_data')\ngrader.check('q3_training')") == ["q3_training", "q1_data"]


def test_a_call_in_a_comment_or_a_string_takes_nothing():
    assert checked_questions('answer = "C"  # grader.check("q6_forget_gate")') == []
    assert checked_questions("note = 'grader.check(\"q6_forget_gate\")'\n'''grader.check(\"q1_data\")'''") == []


def test_a_cell_with_magics_is_read_as_ipython_reads_it():
    assert checked_questions('%matplotlib inline\n!ls\ngrader.check("q2_model")') == ["q2_model"]


def test_a_cell_that_does_not_parse_calls_nothing():
    assert checked_questions('grader.check("q1_data"') == []
