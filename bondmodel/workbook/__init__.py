"""Workbook writing and reading."""
