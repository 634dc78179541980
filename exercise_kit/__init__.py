"""Tooling for the Exercise 6-3 (LSTM gates) assignment kit: build, grade, report."""
