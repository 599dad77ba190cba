"""Stage 5 evaluation: SUPERB-style downstream tasks on frozen upstreams, and unit quality.

upstream (model folders, codec latent, FBANK) -> features (cached per upstream, subset, split)
-> heads (weighted layer sum + task head) trained by downstream -> harness (`evaluate`: results per task)
-> report (several upstreams side by side); metrics and units hold the measures.
"""

from codec2vec.eval.downstream import HeadConfig
from codec2vec.eval.harness import EvalConfig, evaluate
from codec2vec.eval.featurizer import WeightedLayerSum
from codec2vec.eval.metrics import (UnitQuality, char_error_rate, ctc_greedy, equal_error_rate, phone_error_rate,
                                    unit_quality, word_error_rate)
from codec2vec.eval.tasks import TASKS
from codec2vec.eval.upstream import load_upstream

__all__ = ["EvalConfig", "HeadConfig", "TASKS", "WeightedLayerSum", "UnitQuality", "char_error_rate", "ctc_greedy",
           "equal_error_rate", "evaluate", "load_upstream", "phone_error_rate", "unit_quality", "word_error_rate"]
