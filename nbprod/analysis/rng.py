"""The global random generators a cell uses: numpy's legacy global generator and Python's ``random`` module.

A notebook seeds them once (``np.random.seed(42)``, ``random.seed(1)``) and draws from them in later cells, directly
(``np.random.normal``, ``random.shuffle``) or through a library given no ``random_state`` (scikit-learn draws from
numpy's global generator then). In one kernel the draws continue one stream; the planner hands the generator's
state from step to step (:data:`RNG_STATE`) so that each step's own kernel continues the same stream.
"""

from __future__ import annotations

import ast

__all__ = [
    "NUMPY",
    "RANDOM",
    "RNG_STATE",
    "NP_GLOBAL",
    "PY_RANDOM",
    "RANDOM_STATE_ESTIMATORS",
    "takes_state",
    "dotted",
    "generator_objects",
    "global_rng",
    "handed_to_calls",
    "is_rng_state",
    "seeded_generators",
]

NUMPY, RANDOM = "numpy", "random"
#: the product name of each generator's state, handed from the step that used it last to the next that uses it
RNG_STATE = {NUMPY: "_nbprod_rng_numpy", RANDOM: "_nbprod_rng_random"}

NP_GLOBAL = frozenset(
    """rand randn randint random random_sample ranf sample choice shuffle permutation normal uniform binomial
    poisson exponential beta gamma standard_normal multivariate_normal lognormal laplace logistic geometric bytes
    integers""".split()
)
PY_RANDOM = frozenset(
    """random randint choice choices shuffle sample uniform gauss randrange normalvariate triangular betavariate
    expovariate""".split()
)
#: scikit-learn (and friends') estimators and splitters whose results depend on random_state.
RANDOM_STATE_ESTIMATORS = frozenset(
    """RandomForestClassifier RandomForestRegressor ExtraTreesClassifier ExtraTreesRegressor GradientBoostingClassifier
    GradientBoostingRegressor HistGradientBoostingClassifier HistGradientBoostingRegressor DecisionTreeClassifier
    DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor BaggingClassifier BaggingRegressor AdaBoostClassifier
    AdaBoostRegressor IsolationForest RandomTreesEmbedding LogisticRegression SGDClassifier SGDRegressor Perceptron
    PassiveAggressiveClassifier PassiveAggressiveRegressor MLPClassifier MLPRegressor LinearSVC LinearSVR KMeans
    MiniBatchKMeans BisectingKMeans SpectralClustering GaussianMixture BayesianGaussianMixture PCA TruncatedSVD NMF
    MiniBatchNMF FastICA LatentDirichletAllocation TSNE IterativeImputer RBFSampler Nystroem SkewedChi2Sampler
    GaussianRandomProjection SparseRandomProjection ShuffleSplit StratifiedShuffleSplit GroupShuffleSplit
    RandomizedSearchCV HalvingRandomSearchCV RepeatedKFold RepeatedStratifiedKFold XGBClassifier XGBRegressor
    LGBMClassifier LGBMRegressor make_classification make_regression make_blobs make_moons make_circles
    resample""".split()
)
#: calls that draw from numpy's global generator when they get no random_state (beside the estimators above)
_NP_WITHOUT_STATE = frozenset({"train_test_split", "sample", "cross_val_score", "cross_validate", "KFold"})


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for an attribute chain rooted at a name, else the attributes that could be read."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _no_state(call: ast.Call) -> bool:
    given = next((k.value for k in call.keywords if k.arg == "random_state"), None)
    unseeded = given is None or (isinstance(given, ast.Constant) and given.value is None)
    return unseeded and not any(k.arg is None for k in call.keywords)


def _uses(call: ast.Call) -> tuple[str, str] | None:
    """(generator, "seeds" | "draws") for one call, or None."""
    name = dotted(call.func)
    head, _, tail = name.rpartition(".")
    if name in ("np.random.seed", "numpy.random.seed"):
        return NUMPY, "seeds"
    if name == "random.seed":
        return RANDOM, "seeds"
    if head in ("np.random", "numpy.random") and (tail in NP_GLOBAL or tail in ("set_state", "get_state")):
        return NUMPY, "draws"
    if head == "random" and tail in PY_RANDOM | {"setstate", "getstate"}:
        return RANDOM, "draws"
    if (tail in RANDOM_STATE_ESTIMATORS or tail in _NP_WITHOUT_STATE) and _no_state(call) and takes_state(call):
        return NUMPY, "draws"
    return None


def takes_state(call: ast.Call) -> bool:
    """False for a method that only shares its name with one that takes ``random_state``: pandas' calendar
    ``df.resample("ME")`` is not scikit-learn's ``resample(X, y)`` (a bare name, or ``sklearn.utils.resample``)."""
    if dotted(call.func).rsplit(".", 1)[-1] != "resample":
        return True
    return isinstance(call.func, ast.Name) or dotted(call.func) in ("utils.resample", "sklearn.utils.resample")


def global_rng(tree: ast.AST | None) -> dict[str, str]:
    """The global generators ``tree`` uses, each with how it first does in source order: "seeds" or "draws"."""
    if tree is None:
        return {}
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
    out: dict[str, str] = {}
    for call in calls:
        found = _uses(call)
        if found is not None:
            out.setdefault(*found)
    return out


def seeded_generators(tree: ast.AST | None) -> set[str]:
    """The global generators ``tree`` seeds anywhere."""
    if tree is None:
        return set()
    found = (_uses(n) for n in ast.walk(tree) if isinstance(n, ast.Call))
    return {f[0] for f in found if f is not None and f[1] == "seeds"}


def is_rng_state(name: str) -> bool:
    return name in RNG_STATE.values()


#: constructors of generator objects: each call the object is given to may draw from it (``random_state=rs``)
_GENERATOR_CALLS = frozenset(
    """np.random.RandomState numpy.random.RandomState np.random.default_rng numpy.random.default_rng default_rng
    RandomState np.random.Generator numpy.random.Generator random.Random Random check_random_state
    sklearn.utils.check_random_state""".split()
)
#: builtins that only look at what they are given
_LOOKS_ONLY = frozenset({"print", "len", "id", "type", "isinstance", "repr", "str", "display", "hash", "bool"})


def generator_objects(tree: ast.AST | None) -> set[str]:
    """Names a top-level assignment binds to a random generator object: ``rs = np.random.RandomState(0)``,
    ``rng = np.random.default_rng(7)``, ``r = random.Random(1)``."""
    out: set[str] = set()
    for stmt in tree.body if isinstance(tree, ast.Module) else ():
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Call):
            if dotted(stmt.value.func) in _GENERATOR_CALLS:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                out |= {t.id for t in targets if isinstance(t, ast.Name)}
    return out


def handed_to_calls(tree: ast.AST | None) -> set[str]:
    """Bare names given to a call, positionally or by keyword (``KMeans(random_state=rs)``, ``shuffle(x, rs)``), except
    to builtins that only look at them: a generator given to an estimator is drawn from when it fits."""
    out: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _LOOKS_ONLY):
            given = [*node.args, *(k.value for k in node.keywords)]
            out |= {a.id for a in given if isinstance(a, ast.Name)}
    return out
