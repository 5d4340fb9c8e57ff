"""``python -m tools.bench`` (``make bench``): how fast Cosmo writes and serves, as ratios to baselines.

Every figure is set against a baseline measured in the same run on the same machine (a raw
insert, a plain Django endpoint), so the ratios mean something on any machine while the absolute
rates only describe this one. Nothing here ships: the package is not installed and the bench
settings are the only ones that load its Django app.
"""
