"""Associator settings: the STR prior variant, NN-CCTA, windows, store and lookup.

Defaults follow the paper's text (section IV-C): R = exp(-(dt - t_ij)^2 / (2 sigma_ij)) with
sigma_ij = lambda * t_ij, lambda = 0.7, Euclidean feature distance. The authors' public code
differs (sigma^2 in the exponent, sigma floored at 5 s, R floored at 1e-4, squared distance);
each difference is an option here so both can be run and compared.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Section


class StrPrior(Section):
    """Spatio-temporal regularisation (STR) of the joint distance D / R."""

    enabled: bool = True
    lambda_: float = Field(default=0.7, alias="lambda", gt=0, le=10)
    # "gaussian" (default): exponent divides by 2*sigma^2, sigma being the standard deviation as the
    # paper's text defines it (and the authors' code computes it). "paper": 2*sigma, Eq. 3 as printed;
    # an ablation only: it makes the prior's width sqrt(sigma) "seconds" (lookup rank-1 0.81 -> 0.15).
    exponent: Literal["paper", "gaussian"] = "gaussian"
    sigma_floor_s: float = Field(default=0.0, ge=0, le=3600)
    r_floor: float = Field(default=0.0, ge=0, lt=1)
    # dt between tracklets i, j: "gap" = max(start_j - end_i, start_i - end_j) (authors' code);
    # "start" = |start_j - start_i|.
    dt: Literal["gap", "start"] = "gap"

    model_config = Section.model_config | {"populate_by_name": True}


class LearnedPrior(Section):
    """Per camera pair transfer times learned from confident links (``associate.transfer``)."""

    enabled: bool = True
    min_count: int = Field(default=3, ge=1, le=10_000)       # confident links of a pair before its own take over
    site_min_count: int = Field(default=10, ge=1, le=10_000)  # ... of the site before its common scale does
    max_samples: int = Field(default=200, ge=5, le=100_000)  # most recent kept per pair
    # Spread floor as a share of the mean: walking speeds in a crowd vary by about 15-20 %.
    min_rel_std: float = Field(default=0.15, gt=0, le=2)
    min_std_s: float = Field(default=1.5, gt=0, le=3600)
    # Later than the mean is likelier than earlier (people stop, detour, dawdle; nobody runs much
    # faster than they walk): the spread after the mean is this many times the spread before it.
    late_spread_factor: float = Field(default=2.0, ge=1, le=10)
    # How many links the configured spread (lambda * t) counts for when a learned spread is blended in.
    prior_weight: float = Field(default=5.0, ge=0, le=10_000)
    # Links on a camera's busiest route before routes without links are judged unlikely.
    route_min_links: int = Field(default=6, ge=1, le=100_000)


class LearnedZones(Section):
    """Which side of the picture people leave by towards each camera, learned (``associate.zones``)."""

    enabled: bool = True
    min_count: int = Field(default=3, ge=1, le=10_000)       # links with a known side before it judges
    max_samples: int = Field(default=400, ge=10, le=1_000_000)
    side_margin: float = Field(default=0.03, ge=0, le=0.5)    # a box this close to a side touches it


class Trust(Section):
    """When a link is shown to users as "the same person" (``associate.trusted``).

    Thresholds are quantiles of the distances between pairs that cannot be one person (two
    tracklets seen at the same time), so they follow the feature scale of every model version.
    """

    enabled: bool = True
    relink_max_gap_s: float = Field(default=12.0, ge=0, le=600)     # a track broken this long is still one visit
    relink_quantile: float = Field(default=0.15, gt=0, le=1)        # appearance gate for fragments of one visit
    relink_gap_halving_s: float = Field(default=2.0, gt=0, le=600)  # ... halved for every this much gap
    relink_body_heights_per_s: float = Field(default=1.0, gt=0, le=20)  # how far a fragment may move per second
    # A fragment that left by the side of the picture re-links to one coming back in there only when
    # at most this share of strangers look as alike: few people walk out and straight back in, and
    # strangers walk in by that side all the time (bench_quality: the wrong re-links were 1.7-3.8 %).
    relink_reentry_quantile: float = Field(default=0.01, gt=0, le=1)
    relink_reentry_confidence: float = Field(default=0.9, gt=0, lt=1)  # ... shown by the sample (binomial bound)
    link_quantile: float = Field(default=0.05, gt=0, le=1)          # appearance gate across cameras
    min_r: float = Field(default=0.05, gt=0, le=1)                  # transfer time at most ~2.4 spreads off
    min_confidence: float = Field(default=0.5, ge=0, le=1)          # links shown to users (0.5: likelier right than not)
    learn_confidence: float = Field(default=0.8, ge=0, le=1)        # links the transfer model learns from
    min_negatives: int = Field(default=30, ge=1)                    # impossible pairs before any cross link
    # What a cross link's confidence is: "posterior" (P(right) against every candidate and "the
    # person left the network": ``posterior``) or "rivals" (R x the chance no stranger beats it;
    # before the seventh session, shown with min_confidence 0.6).
    confidence_model: Literal["rivals", "posterior"] = "posterior"
    successor_prior: float = Field(default=0.5, gt=0, lt=1)        # chance a person leaving a view is seen again
    same_quantile_mean: float = Field(default=0.01, gt=0, le=0.5)  # a person's own visit: mean stranger quantile
    calibration_weight: float = Field(default=20.0, ge=0)          # ... both learned; the configured ones weigh this many visits
    posterior_min_negatives: int = Field(default=250, ge=1)        # strangers before the posterior is used (1/n well under the mean)
    min_rival_confidence: float = Field(default=0.6, ge=0, le=1)   # links shown while the rival confidence is
    learned_prior: LearnedPrior = LearnedPrior()
    zones: LearnedZones = LearnedZones()


class Association(Section):
    """NN-CCTA: 1-reciprocal nearest neighbours per camera pair, then 1-D k-means."""

    distance: Literal["euclidean", "sqeuclidean"] = "euclidean"
    kmeans_k: int = Field(default=3, ge=1, le=16)
    kmeans_on: Literal["feature", "joint"] = "feature"
    relink_within_camera: bool = True
    relink_max_gap_s: float = Field(default=10.0, ge=0, le=600)
    relink_max_distance: float = Field(default=0.5, gt=0)
    str_prior: StrPrior = StrPrior()
    trust: Trust = Trust()


class Window(Section):
    """Rolling per-camera windows, in event time (tracklet timestamps), not wall time."""

    window_s: float = Field(default=900.0, gt=0, le=7 * 86_400)
    max_tracklets: int = Field(default=200_000, ge=10, le=10_000_000)
    # How late (event time) a tracklet may arrive after the newest seen and still be associated.
    allowed_lateness_s: float = Field(default=60.0, ge=0, le=86_400)
    # Cameras are live: after this long without any tracklet the event clock follows the wall clock,
    # so links still waiting for their context become decided (and final) on a quiet network.
    clock_follows_wall_after_s: float = Field(default=10.0, gt=0, le=86_400)
    # A tracklet ending further than this after the newest one is refused (a camera's clock is off):
    # taken, it would move the event clock and make every later tracklet "late".
    max_future_s: float = Field(default=3600.0, gt=0, le=365 * 86_400)


class Retention(Section):
    """How long the store keeps what it holds of people (``store.retention``), in event time."""

    max_age_s: float = Field(default=7 * 86_400, gt=0)           # tracklets: crops, embeddings, links
    max_bytes: int = Field(default=20 * 1024**3, gt=1024**2)
    # Summaries of evicted tracklets (camera, times, the 64 px thumbnail) and their identity rows:
    # what lets a lookup still list old sightings. Gone too once this old (at least max_age_s).
    summary_max_age_s: float = Field(default=30 * 86_400, gt=0)

    @model_validator(mode="after")
    def _summaries_outlive_tracklets(self) -> "Retention":
        if self.summary_max_age_s < self.max_age_s:
            raise ValueError(f"summary_max_age_s={self.summary_max_age_s:g} is shorter than max_age_s="
                             f"{self.max_age_s:g}: a summary is what remains of an evicted tracklet, so it "
                             f"cannot expire first")
        return self


class AssociatorConfig(Section):
    store_dir: str = "runs/store"
    association: Association = Association()
    window: Window = Window()
    retention: Retention = Retention()
    metrics_port: int = Field(default=9610, ge=0, le=65535)
    # Loopback by default; "0.0.0.0" (or this box's address) lets a Prometheus elsewhere scrape it.
    metrics_host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    # Train-round trigger policy: new accepted pairs since last round, or a period.
    train_after_new_pairs: int = Field(default=200, ge=1)
    train_period_s: float = Field(default=3600.0, gt=0)
    # Loading an announced model and re-embedding the window run on a worker thread at this
    # niceness (tastr_stream/background.py), so they yield the CPU to ingest on a shared box.
    background_niceness: int = Field(default=10, ge=0, le=19)
