"""Evaluation of explanations: deletion / insertion curves (pairs and single faces), random-map
baseline (ties broken by the seed; black, blur or ROAD fills), faithfulness correlation, the
model-parameter-randomisation test, the model-randomisation sanity check, synthetic models
with known evidence, and an adapter that runs quantus' metrics on our maps (quantus_metrics)."""

from .curves import (PairCurve, PixelOrder, SingleCurve, auc, best_threshold, pair_curve, perturb, random_maps,
                     road_impute, single_curve)
from .faithfulness import (RandomisationResult, RandomisationStep, faithfulness_correlation,
                           model_parameter_randomisation)
from .protocol import (PairEvaluation, SanityResult, SingleEvaluation, evaluate_pairs, evaluate_single, evidence_maps, pair_chips, pair_signed_maps,
                       randomised_model, rank_correlation, sanity_check, single_signed_maps)
from .quantus_adapter import SimilarityClassifier, quantus_metrics, to_quantus
from .synthetic import region_mask, synthetic_model

__all__ = ["SingleEvaluation", "evaluate_single", "PairCurve", "PairEvaluation", "PixelOrder", "SanityResult", "SingleCurve", "auc", "best_threshold",
           "evaluate_pairs", "evidence_maps", "pair_chips", "pair_curve", "pair_signed_maps", "perturb",
           "random_maps", "randomised_model", "rank_correlation", "region_mask", "sanity_check", "single_curve",
           "single_signed_maps",
           "synthetic_model", "road_impute", "faithfulness_correlation", "model_parameter_randomisation",
           "RandomisationResult", "RandomisationStep", "quantus_metrics", "to_quantus", "SimilarityClassifier"]
