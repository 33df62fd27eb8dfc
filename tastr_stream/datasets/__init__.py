"""Datasets on disk: the synthetic camera world, Campus-4K and Market/Duke-style crop folders."""

from .campus4k import (CAMPUS4K_PATH_LENGTHS_M, Campus4K, ImageRecord, TrackletDir, campus4k_network,
                       load_campus4k)
from .market import CropRecord, MarketStyleDataset, load_market_style
from .synthetic import GtBox, SyntheticWorld, Transfer, Visit
