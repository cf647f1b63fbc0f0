"""Cycle pipeline stages (train, evaluate, score, select) and the watchdog. The only code
where DB rows meet torch; torch is imported lazily inside the stage functions."""
