"""Offline jobs composing the reco library: ingest, train, export, and the ``reco`` command line."""
