"""Collect every .feature file under features/ (pytest-bdd needs one test module)."""
from pytest_bdd import scenarios

scenarios(".")
