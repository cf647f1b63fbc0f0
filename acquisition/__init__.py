"""Acquisition: pure functions that turn prediction records into "label this first" scores.

No database, no files, no settings, no global RNG. Higher score = label first.
"""
