"""The live instruments inside the lessons, one module per lesson (lesson1 … lesson5).

Each instrument is a function a lesson section names in specviz/lessons/*.yaml; the lesson
pages map section names to these functions and hold layout only. Shared helpers: common.py.
"""
