"""Run sheet: a timed workshop agenda through the app's own pages, printable (specviz/lessons/runsheet.py)."""
from specviz.ui import page, workshop

page.setup("Run sheet", "9_Run_sheet")
workshop.run_sheet_view()
page.done()
