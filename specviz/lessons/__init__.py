"""Lessons as data: their texts and quizzes (*.yaml), the measured facts their prose quotes, the
quizzes' predict cases and verdicts, and the workshop's run sheet. No Streamlit (the pages and
ui/lesson.py show them). Imports services and below.

content.py   loading a lesson, filling its {{facts}}, the lesson and its answer key as markdown
facts.py     every fact a lesson quotes, from the shipped traces and this machine's measurements
quiz.py      a predict question's real token and its verdict
runsheet.py  the timed 45-minute agenda (runsheet.yaml) as markdown
"""
