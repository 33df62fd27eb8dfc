"""tastr-stream: streaming multi-camera person re-identification (TASTR).

The package follows the data flow: ``decode`` -> ``detect`` -> ``track`` -> ``tracklet``
-> ``wire`` -> ``associate`` -> ``store`` -> ``serve``, with ``train`` closing the loop,
``sim`` providing the synthetic camera world and ``eval`` the Re-ID metrics.
"""

__version__ = "0.1.0"
