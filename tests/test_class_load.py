"""Followers follow a presenter over real websockets (scripts/class_load_test.py, bounded to a
few followers; the 30-follower figures come from running the script by hand), and answer a
lesson's quiz while the presenter watches and reveals."""
import pytest


@pytest.mark.parametrize("page", [[], ["--real"]], ids=["load-test page", "product page"])
def test_a_few_followers_see_every_presenter_step(page, scripts_run):
    out = scripts_run("class_load_test.py", "--followers", "3", "--steps", "3", "--interval", "2", "--tuned",
                      "--max-seconds", "240", *page)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "missed steps: 0 " in out.stdout and "errors: 0" in out.stdout
    assert "(9 follower-steps)" in out.stdout  # 3 followers x 3 steps, each seen


def test_a_few_followers_answer_and_see_the_reveal_on_a_lesson_page(scripts_run):
    out = scripts_run("class_load_test.py", "--followers", "3", "--lesson", "--questions", "2",
                      "--answer-window", "1", "--tuned", "--max-seconds", "240")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "missed: 0 answers, 0 reveals · errors: 0" in out.stdout
    assert "answer -> presenter: p50" in out.stdout and "(6 measured)" in out.stdout  # 3 followers x 2 questions
