"""The HTTP API: personal recommendations and similar items over the promoted model version."""

import os

# One OpenMP thread per process: a server runs requests side by side in a thread pool, and a new
# OpenMP team for every pool thread (scikit-learn's tree predictions) cost ~15 ms per request on
# 2 cores (measured: 26.7 -> 10.5 ms per recommendation). Read when the OpenMP runtime loads, so set
# before scikit-learn is imported; an explicit OMP_NUM_THREADS wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")
