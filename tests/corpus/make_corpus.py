"""Write the corpus: small notebooks shaped like real ones, for lint, convert, run and verify.

``python tests/corpus/make_corpus.py [OUT]`` writes ``OUT/`` (default: ``tests/corpus/notebooks/``): the notebooks
of ``NOTEBOOKS`` and the small CSV files some of them read (``data/``, generated from a fixed seed). A name ending
in ``.py`` is written as a jupytext percent script; any other as ``.ipynb``, the cells' ``tags=[...]`` becoming
cell metadata. The notebooks are written for this corpus in the shapes people use (Kaggle-style EDA then a model,
scikit-learn-gallery sections, Kale tags, ``# nbprod:`` comments, helpers and classes, plots between steps,
several models, parameters cells); they are not copies of public notebooks. ``tests/test_corpus.py`` checks that
the committed files are what this script writes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "notebooks"

_HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")
_PERCENT_HEADER = """\
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

"""

#: name -> (shape, percent text). Shapes: kaggle, gallery, kale, comments, messy, plots, models, params.
NOTEBOOKS: dict[str, tuple[str, str]] = {}


def nb(name: str, shape: str, text: str) -> None:
    NOTEBOOKS[name] = (shape, text)


# --- Notebook objects, resources and dynamic names (the third round of the second outside corpus) -------------

nb(
    "messy_registry.ipynb",
    "messy",
    """
# %% [markdown]
# # Metrics kept in a registry, formatted by a settings class
# %%
from collections import namedtuple
from functools import partial

import numpy as np
# %% [markdown]
# ## Helpers
# %%
METRICS = {}


def register(name):
    def wrap(f):
        METRICS[name] = f
        return f

    return wrap


@register("mae")
def mae(y, p):
    return float(np.mean(np.abs(y - p)))


class Units:
    label = "EUR"


def fmt(v):
    return f"{v:.2f} {Units.label}"


def remember(note, seen=[]):
    seen.append(note)
    return list(seen)


Score = namedtuple("Score", ["model", "metric", "value"])
rounded = partial(round, ndigits=3)
remember("helpers")
# %% [markdown]
# ## Data
# %%
rng = np.random.default_rng(5)
y = rng.normal(100, 10, size=40)
guess = y + rng.normal(0, 3, size=40)
# %% [markdown]
# ## More metrics
# %%
@register("rmse")
def rmse(y, p):
    return float(np.sqrt(np.mean((y - p) ** 2)))


Units.label = "USD"
remember("metrics")
# %% [markdown]
# ## Score
# %%
scores = [Score("guess", name, rounded(f(y, guess))) for name, f in sorted(METRICS.items())]
for s in scores:
    print(s.metric, fmt(s.value))
print(remember("score"))
""",
)

nb(
    "kaggle_sqlite.ipynb",
    "kaggle",
    """
# %% [markdown]
# # Orders in a SQL table, a quiet fit, batches of predictions
# %%
import sqlite3

import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor
# %% [markdown]
# ## Load into SQL
# %%
con = sqlite3.connect(":memory:")
orders = pd.DataFrame({"region": list("nsewnsewns"), "qty": [3, 5, 2, 8, 4, 6, 1, 7, 5, 2]})
orders["price"] = orders["qty"] * 2.5 + 1
orders.to_sql("orders", con, index=False)
# %% [markdown]
# ## Query
# %%
by_region = pd.read_sql("select region, sum(qty) as qty from orders group by region order by region", con)
by_region
# %% [markdown]
# ## Fit quietly
# %%
%%capture fit_log
X, y = orders[["qty"]], orders["price"]
model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X, y)
print("train score", round(model.score(X, y), 3))
print("fitted", model.n_estimators_)
# %% [markdown]
# ## Predict in batches
# %%
def batches(frame, size):
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


stream = batches(X, 4)
# %% [markdown]
# ## Report
# %%
sizes = [len(b) for b in stream]
print(sizes, fit_log.stdout.strip().splitlines()[-1], round(float(model.predict(X.head(1))[0]), 2))
""",
)

nb(
    "gallery_computed_frames.ipynb",
    "gallery",
    """
# %% [markdown]
# # One frame per cluster, under computed names
# %%
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
# %% [markdown]
# ## Points
# %%
rs = np.random.RandomState(11)
points = pd.DataFrame(rs.normal(size=(60, 2)), columns=["x", "y"])
# %% [markdown]
# ## Cluster
# %%
km = KMeans(n_clusters=3, n_init=2, random_state=rs).fit(points)
points["cluster"] = km.labels_
for k, part in points.groupby("cluster"):
    globals()[f"cluster_{k}"] = part.reset_index(drop=True)
# %% [markdown]
# ## Sizes
# %%
print(sorted([len(cluster_0), len(cluster_1), len(cluster_2)]), rs.randint(100))
""",
)

# --- Kaggle-style: EDA, then a model --------------------------------------------------------------------------

nb(
    "kaggle_passengers.ipynb",
    "kaggle",
    """
# %% [markdown]
# # Who survived? A quick look, then a baseline model
# %% tags=["imports"]
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
# %% tags=["parameters"]
test_size = 0.25
seed = 7
# %% tags=["step:load"]
df = pd.read_csv("data/passengers.csv")
print(df.shape)
# %% tags=["skip"]
df.head()
# %% tags=["skip"]
df.describe(include="all")
# %% tags=["skip"]
df.groupby("sex")["survived"].mean()
# %% [markdown]
# ## Cleaning
# %% tags=["step:clean"]
df["age"] = df["age"].fillna(df["age"].median())
df["embarked"] = df["embarked"].fillna("S")
features = pd.get_dummies(df[["pclass", "sex", "age", "fare", "embarked"]], columns=["sex", "embarked"], dtype=float)
target = df["survived"]
print(features.columns.tolist())
# %% tags=["step:train", "model:model"]
X_train, X_test, y_train, y_test = train_test_split(features, target, test_size=test_size, random_state=seed)
model = LogisticRegression(max_iter=500)
model.fit(X_train, y_train)
# %% tags=["step:evaluate", "metrics", "require:accuracy>0.6"]
accuracy = float(accuracy_score(y_test, model.predict(X_test)))
print(f"accuracy: {accuracy:.3f}")
""",
)

nb(
    "kaggle_house_prices.ipynb",
    "kaggle",
    """
# %% [markdown]
# # House prices: generated data, feature engineering, ridge
# %% tags=["imports"]
import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
# %% tags=["parameters"]
seed = 3
alpha = 1.0
# %% tags=["step:make_data"]
rng = np.random.default_rng(seed)
n = 200
houses = pd.DataFrame({
    "area": rng.uniform(40, 250, n),
    "rooms": rng.integers(1, 7, n),
    "age": rng.uniform(0, 80, n),
    "district": rng.choice(["north", "south", "centre"], n),
})
houses["price"] = 1500 * houses["area"] + 8000 * houses["rooms"] - 300 * houses["age"] + rng.normal(0, 20000, n)
# %% tags=["skip"]
houses.corr(numeric_only=True)
# %% tags=["step:features"]
houses["area_per_room"] = houses["area"] / houses["rooms"]
X = pd.get_dummies(houses.drop(columns="price"), columns=["district"], dtype=float)
y = houses["price"]
print(X.shape)
# %% tags=["step:fit", "model:ridge"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=seed)
ridge = Ridge(alpha=alpha).fit(X_train, y_train)
# %% tags=["step:score", "metrics"]
rmse = float(np.sqrt(np.mean((ridge.predict(X_test) - y_test) ** 2)))
print(round(rmse, 2))
""",
)

nb(
    "kaggle_churn.ipynb",
    "kaggle",
    """
# %% [markdown]
# # Telco churn
# Read the export, look at it, then a gradient-boosting baseline.
# %% tags=["imports"]
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
# %% tags=["step:load"]
raw = pd.read_csv("data/churn.csv")
# %% tags=["skip"]
raw.contract.value_counts()
# %% tags=["skip"]
raw.groupby("contract").churned.mean().sort_values()
# %% tags=["step:prepare"]
data = raw.copy()
data["contract"] = data["contract"].map({"monthly": 0, "yearly": 1, "two-year": 2})
data["calls_per_month"] = data["support_calls"] / data["tenure"].clip(lower=1)
X = data.drop(columns=["customer_id", "churned"])
y = data["churned"]
# %% tags=["step:train", "model:gbm"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
gbm = GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=0)
gbm.fit(X_train, y_train)
# %% tags=["step:evaluate", "metrics"]
auc = float(roc_auc_score(y_test, gbm.predict_proba(X_test)[:, 1]))
print("AUC", round(auc, 3))
""",
)

nb(
    "kaggle_wine.ipynb",
    "kaggle",
    """
# %% [markdown]
# # Wine cultivars: EDA and an SVM
# %% tags=["imports"]
from sklearn.datasets import load_wine
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
# %% tags=["step:load"]
wine = load_wine(as_frame=True)
df = wine.frame
print(df.shape, df.target.nunique())
# %% tags=["skip"]
df.describe().T
# %% tags=["step:split"]
X_train, X_test, y_train, y_test = train_test_split(
    df.drop(columns="target"), df["target"], test_size=0.3, random_state=42, stratify=df["target"]
)
# %% tags=["step:scale"]
scaler = StandardScaler().fit(X_train)
X_train_s = scaler.transform(X_train)
X_test_s = scaler.transform(X_test)
# %% tags=["step:train", "model:svc"]
svc = SVC(C=1.0, kernel="rbf").fit(X_train_s, y_train)
# %% tags=["step:evaluate", "metrics"]
f1 = float(f1_score(y_test, svc.predict(X_test_s), average="macro"))
print(f"macro F1 {f1:.3f}")
""",
)


nb(
    "kaggle_sales.ipynb",
    "kaggle",
    """
# %% [markdown]
# # Daily sales: lag features and a linear baseline
# %% tags=["imports"]
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error
# %% tags=["step:series"]
rng = np.random.default_rng(0)
days = pd.date_range("2025-01-01", periods=180, freq="D")
sales = pd.DataFrame({"day": days, "units": 100 + 10 * np.sin(np.arange(180) / 7) + rng.normal(0, 3, 180)})
# %% tags=["skip"]
sales.set_index("day")["units"].rolling(7).mean().tail()
# %% tags=["step:lags"]
for lag in (1, 7):
    sales[f"lag_{lag}"] = sales["units"].shift(lag)
sales["weekday"] = sales["day"].dt.weekday
table = sales.dropna().reset_index(drop=True)
cutoff = int(len(table) * 0.8)
# %% tags=["step:fit", "model:lr"]
cols = ["lag_1", "lag_7", "weekday"]
lr = LinearRegression().fit(table.loc[: cutoff - 1, cols], table.loc[: cutoff - 1, "units"])
# %% tags=["step:backtest", "metrics"]
mae = float(mean_absolute_error(table.loc[cutoff:, "units"], lr.predict(table.loc[cutoff:, cols])))
print(f"MAE {mae:.2f}")
""",
)

# --- scikit-learn-gallery style: '## ' sections, no tags --------------------------------------------------------

nb(
    "gallery_classifier_comparison.ipynb",
    "gallery",
    """
# %% [markdown]
# # Classifier comparison
# A few classifiers on two toy datasets.
# %%
import numpy as np
from sklearn.datasets import make_circles, make_moons
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
# %% [markdown]
# ## Datasets
# %%
datasets = {
    "moons": make_moons(n_samples=120, noise=0.3, random_state=0),
    "circles": make_circles(n_samples=120, noise=0.2, factor=0.5, random_state=1),
}
# %% [markdown]
# ## Classifiers
# %%
classifiers = {
    "knn": KNeighborsClassifier(3),
    "linear svm": SVC(kernel="linear", C=0.025),
    "tree": DecisionTreeClassifier(max_depth=5, random_state=0),
}
# %% [markdown]
# ## Scores
# %%
scores = {}
for dname, (X, y) in datasets.items():
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, random_state=42)
    for cname, clf in classifiers.items():
        scores[(dname, cname)] = clf.fit(X_train, y_train).score(X_test, y_test)
# %%
for key, value in sorted(scores.items()):
    print(key, round(value, 2))
""",
)

nb(
    "gallery_pca_digits.ipynb",
    "gallery",
    """
# %% [markdown]
# # PCA on the digits, then a classifier on the components
# %%
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
# %% [markdown]
# ## Load the digits
# %%
X, y = load_digits(return_X_y=True)
X = X[:400]
y = y[:400]
# %% [markdown]
# ## Project
# %%
pca = PCA(n_components=10, random_state=0)
Z = pca.fit_transform(X)
explained = pca.explained_variance_ratio_.sum()
print(f"{explained:.3f} of the variance in 10 components")
# %% [markdown]
# ## Classify
# %%
Z_train, Z_test, y_train, y_test = train_test_split(Z, y, random_state=0)
clf = LogisticRegression(max_iter=1000).fit(Z_train, y_train)
accuracy = clf.score(Z_test, y_test)
print(round(accuracy, 3))
""",
)

nb(
    "gallery_ridge_path.ipynb",
    "gallery",
    """
# %% [markdown]
# # Ridge coefficients as a function of the regularisation
# %%
import numpy as np
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
# %% [markdown]
# ## Data
# %%
X, y, true_coef = make_regression(n_samples=60, n_features=5, coef=True, noise=5.0, random_state=0)
# %% [markdown]
# ## Compute the path
# %%
alphas = np.logspace(-2, 4, 20)
coefs = np.array([Ridge(alpha=a).fit(X, y).coef_ for a in alphas])
print(coefs.shape)
# %% [markdown]
# ## Shrinkage
# %%
norms = np.linalg.norm(coefs, axis=1)
shrinks = bool(np.all(np.diff(norms) <= 1e-9))
print("norm decreases with alpha:", shrinks)
""",
)

nb(
    "gallery_kmeans_blobs.ipynb",
    "gallery",
    """
# %% [markdown]
# # k-means on blobs: choosing k with the silhouette
# %%
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score
# %% [markdown]
# ## Generate blobs
# %%
X, _ = make_blobs(n_samples=150, centers=4, cluster_std=0.8, random_state=5)
# %% [markdown]
# ## Fit several k
# %%
silhouettes = {}
for k in range(2, 7):
    labels = KMeans(n_clusters=k, n_init=4, random_state=0).fit_predict(X)
    silhouettes[k] = float(silhouette_score(X, labels))
# %% [markdown]
# ## Best k
# %%
best_k = max(silhouettes, key=silhouettes.get)
print("best k:", best_k)
""",
)

nb(
    "gallery_cross_validation.ipynb",
    "gallery",
    """
# %% [markdown]
# # Cross-validated scores of three regressors on the diabetes data
# %%
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso, LinearRegression, Ridge
from sklearn.model_selection import KFold, cross_val_score
# %% [markdown]
# ## Data
# %%
X, y = load_diabetes(return_X_y=True)
cv = KFold(n_splits=4, shuffle=True, random_state=0)
# %% [markdown]
# ## Scores
# %%
models = {"ols": LinearRegression(), "ridge": Ridge(alpha=0.5), "lasso": Lasso(alpha=0.1)}
cv_scores = {name: cross_val_score(m, X, y, cv=cv, scoring="r2") for name, m in models.items()}
# %% [markdown]
# ## Summary
# %%
summary = {name: (float(np.mean(s)), float(np.std(s))) for name, s in cv_scores.items()}
for name, (mean, std) in summary.items():
    print(f"{name}: {mean:.3f} +/- {std:.3f}")
""",
)

nb(
    "gallery_scaling.ipynb",
    "gallery",
    """
# %% [markdown]
# # Why scaling matters for a distance-based model
# %%
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
# %% [markdown]
# ## Split
# %%
X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=42)
# %% [markdown]
# ## Unscaled vs scaled
# %%
unscaled = KNeighborsClassifier().fit(X_train, y_train).score(X_test, y_test)
scaled = make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(X_train, y_train).score(X_test, y_test)
# %% [markdown]
# ## Report
# %%
print(f"unscaled {unscaled:.3f}, scaled {scaled:.3f}")
gain = scaled - unscaled
""",
)

nb(
    "gallery_iris_tree.py",
    "gallery",
    """
# %% [markdown]
# # A decision tree on the iris, printed as rules
# %%
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier, export_text

# %% [markdown]
# ## Load

# %%
iris = load_iris()
X, y = iris.data, iris.target
feature_names = list(iris.feature_names)

# %% [markdown]
# ## Fit

# %%
tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)

# %% [markdown]
# ## Rules

# %%
rules = export_text(tree, feature_names=feature_names)
print(rules)
depth = tree.get_depth()
""",
)

# --- Kale-tagged (block:/step:, prev:, pipeline-parameters, pipeline-metrics) -----------------------------------

nb(
    "kale_iris.ipynb",
    "kale",
    """
# %% [markdown]
# # Iris with Kale tags
# %% tags=["imports"]
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
# %% tags=["pipeline-parameters"]
test_size = 0.3
seed = 1
C = 0.5
# %% tags=["block:load"]
X, y = load_iris(return_X_y=True)
# %% tags=["block:split", "prev:load"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed)
# %% tags=["block:train", "prev:split"]
clf = LogisticRegression(C=C, max_iter=300).fit(X_train, y_train)
# %% tags=["block:evaluate", "prev:train"]
accuracy = clf.score(X_test, y_test)
# %% tags=["pipeline-metrics"]
print(accuracy)
""",
)

nb(
    "kale_diabetes.ipynb",
    "kale",
    """
# %% [markdown]
# # Diabetes progression (Kale step:/prev: tags, a functions cell)
# %% tags=["imports"]
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
# %% tags=["functions"]
def rmse(y_true, y_pred):
    return float(np.sqrt(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2)))
# %% tags=["pipeline-parameters"]
n_estimators = 25
seed = 0
# %% tags=["step:data"]
data = load_diabetes(as_frame=True).frame
train = data.sample(frac=0.8, random_state=seed)
test = data.drop(train.index)
# %% tags=["step:model", "prev:data"]
forest = RandomForestRegressor(n_estimators=n_estimators, max_depth=5, random_state=seed)
forest.fit(train.drop(columns="target"), train["target"])
# %% tags=["step:evaluate", "prev:model"]
test_rmse = rmse(test["target"], forest.predict(test.drop(columns="target")))
# %% tags=["pipeline-metrics"]
print(test_rmse)
""",
)

nb(
    "kale_breast_cancer.ipynb",
    "kale",
    """
# %% [markdown]
# # Breast cancer screening model (Kale, with cluster tags and exploration cells)
# %% tags=["imports"]
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
# %% tags=["block:ingest"]
bunch = load_breast_cancer(as_frame=True)
frame = bunch.frame
# %% tags=["skip"]
frame.iloc[:, :5].describe()
# %% tags=["block:preprocess", "prev:ingest"]
X = frame.drop(columns="target")
y = frame["target"]
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_train)
# %% tags=["block:train", "prev:preprocess", "limit:nvidia.com/gpu:1"]
svm = LinearSVC(C=0.1, max_iter=5000).fit(scaler.transform(X_train), y_train)
# %% tags=["block:evaluate", "prev:train"]
recall = float(((svm.predict(scaler.transform(X_test)) == 1) & (y_test == 1)).sum() / (y_test == 1).sum())
# %% tags=["pipeline-metrics"]
print(recall)
""",
)

nb(
    "kale_text_counts.ipynb",
    "kale",
    """
# %% [markdown]
# # Tiny sentiment model on a handful of sentences (Kale tags)
# %% tags=["imports"]
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
# %% tags=["block:corpus"]
texts = [
    "great product, works well", "terrible, broke in a day", "love it", "awful support",
    "works as described", "not worth the money", "excellent value", "bad quality, returned it",
    "very happy with it", "disappointing and slow",
]
labels = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
# %% tags=["block:vectorize", "prev:corpus"]
vectorizer = CountVectorizer()
counts = vectorizer.fit_transform(texts)
vocabulary_size = len(vectorizer.vocabulary_)
print(vocabulary_size)
# %% tags=["block:train", "prev:vectorize"]
nb_model = MultinomialNB().fit(counts, labels)
# %% tags=["block:check", "prev:train"]
probe = vectorizer.transform(["works great", "awful and slow"])
predictions = nb_model.predict(probe).tolist()
print(predictions)
""",
)

nb(
    "kale_blobs.ipynb",
    "kale",
    """
# %% [markdown]
# # Clustering customers (Kale blocks spanning several cells)
# %% tags=["imports"]
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
# %% tags=["pipeline-parameters"]
k = 3
seed = 2
# %% tags=["block:generate"]
points, truth = make_blobs(n_samples=90, centers=k, random_state=seed)
# %%
points = points - points.mean(axis=0)
# %% tags=["block:cluster", "prev:generate"]
km = KMeans(n_clusters=k, n_init=3, random_state=seed)
assigned = km.fit_predict(points)
# %%
sizes = np.bincount(assigned).tolist()
print(sorted(sizes))
# %% tags=["block:report", "prev:cluster"]
inertia = float(km.inertia_)
# %% tags=["pipeline-metrics"]
print(round(inertia, 2))
""",
)

# --- tagged with '# nbprod:' comments ---------------------------------------------------------------------------

nb(
    "comments_regression.py",
    "comments",
    """
# %% [markdown]
# # Linear regression, tagged with first-line comments

# %%
# nbprod: imports
import numpy as np
from sklearn.linear_model import LinearRegression

# %%
# nbprod: parameters
seed = 5
n = 80

# %%
# nbprod: step:load
rng = np.random.default_rng(seed)
x = rng.uniform(0, 10, size=(n, 1))
y = 3.0 * x[:, 0] + 2.0 + rng.normal(0, 1.0, size=n)

# %%
# nbprod: step:fit model:reg
reg = LinearRegression().fit(x, y)
print(reg.coef_.round(2), round(float(reg.intercept_), 2))

# %%
# nbprod: step:evaluate metrics
r2 = float(reg.score(x, y))
""",
)

nb(
    "comments_classification.ipynb",
    "comments",
    """
# %% [markdown]
# # Two-moons classification, comment tags in an .ipynb
# %%
# nbprod: imports
from sklearn.datasets import make_moons
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
# %%
# nbprod: step:data
X, y = make_moons(n_samples=200, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
# %%
# nbprod: step:train model:forest
forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(X_train, y_train)
# %%
# nbprod: step:evaluate metrics require:accuracy>0.7
accuracy = float(forest.score(X_test, y_test))
print(accuracy)
""",
)

nb(
    "comments_gated.ipynb",
    "comments",
    """
# %% [markdown]
# # A gated training table
# %%
# nbprod: imports
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
# %%
# nbprod: step:table
rng = np.random.default_rng(4)
table = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
table["label"] = (table["a"] + 0.5 * table["b"] > 0).astype(int)
# %%
# nbprod: step:train model:clf
clf = LogisticRegression().fit(table[["a", "b"]], table["label"])
# %%
# nbprod: step:evaluate metrics require:train_accuracy>0.8
train_accuracy = float(clf.score(table[["a", "b"]], table["label"]))
print(train_accuracy)
""",
)


nb(
    "comments_after.ipynb",
    "comments",
    """
# %% [markdown]
# # An explicit ordering with after:
# %%
# nbprod: imports
import numpy as np
# %%
# nbprod: step:prices
prices = np.array([10.0, 11.5, 9.8, 12.2, 13.0, 12.7])
# %%
# nbprod: step:volumes
volumes = np.array([100, 80, 120, 90, 60, 70])
# %%
# nbprod: step:report after:volumes
turnover = float((prices * volumes).sum())
vwap = turnover / volumes.sum()
print(round(vwap, 3))
""",
)

# --- messy: helpers, classes, things changed in place -----------------------------------------------------------

nb(
    "messy_helpers.ipynb",
    "messy",
    """
# %% [markdown]
# # Helpers defined wherever they were first needed
# %%
import numpy as np
import pandas as pd
# %% tags=["step:raw"]
def make_frame(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "group": rng.choice(list("abc"), n)})

raw = make_frame(100, 0)
# %% tags=["step:clean"]
CLIP = 2.0
clip = lambda s: s.clip(-CLIP, CLIP)

def standardise(s):
    return (s - s.mean()) / s.std()

clean = raw.assign(x=clip(standardise(raw["x"])))
# %% tags=["step:summary"]
summary = clean.groupby("group")["x"].agg(["mean", "count"]).round(4)
print(summary)
# %% tags=["step:extra"]
more = make_frame(20, 1)
combined = standardise(pd.concat([clean["x"], more["x"]], ignore_index=True))
print(len(combined))
""",
)


nb(
    "messy_mutations.ipynb",
    "messy",
    """
# %% [markdown]
# # A frame changed in place over several steps
# %%
import numpy as np
import pandas as pd
# %% tags=["step:load"]
rng = np.random.default_rng(1)
df = pd.DataFrame({"a": rng.normal(size=50), "b": rng.integers(0, 5, 50)})
df.loc[::7, "a"] = np.nan
# %% tags=["step:fix"]
df["a"] = df["a"].fillna(0.0)
df["c"] = df["a"] * df["b"]
# %% tags=["step:drop"]
df.drop(columns=["b"], inplace=True)
df = df[df["c"] >= 0].reset_index(drop=True)
# %% tags=["step:describe"]
means = df.mean().round(4).to_dict()
print(sorted(means))
""",
)

nb(
    "messy_results_dict.ipynb",
    "messy",
    """
# %% [markdown]
# # Results collected in a dict, one model per step
# %% tags=["imports"]
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier
# %% tags=["step:data"]
X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
results = {}
# %% tags=["step:tree"]
tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X_train, y_train)
results["tree"] = tree.score(X_test, y_test)
# %% tags=["step:logistic"]
logistic = LogisticRegression(max_iter=3000).fit(X_train, y_train)
results["logistic"] = logistic.score(X_test, y_test)
# %% tags=["step:compare"]
best = max(results, key=results.get)
print(best, sorted(results))
""",
)


# --- plotting between steps ---------------------------------------------------------------------------------------

nb(
    "plots_eda.ipynb",
    "plots",
    """
# %% [markdown]
# # EDA with plots, then a model
# %% tags=["imports"]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.neighbors import KNeighborsClassifier
# %% tags=["step:load"]
iris = load_iris(as_frame=True).frame
# %% tags=["skip"]
iris.hist(figsize=(6, 4))
plt.show()
# %% tags=["step:explore"]
fig, ax = plt.subplots()
for label, group in iris.groupby("target"):
    ax.scatter(group["petal length (cm)"], group["petal width (cm)"], label=str(label))
ax.legend()
plt.close(fig)
petal = iris[["petal length (cm)", "petal width (cm)", "target"]]
# %% tags=["step:model", "model:knn"]
knn = KNeighborsClassifier(5).fit(petal.drop(columns="target"), petal["target"])
# %% tags=["step:evaluate", "metrics"]
accuracy = float(knn.score(petal.drop(columns="target"), petal["target"]))
print(accuracy)
""",
)


nb(
    "plots_residuals.py",
    "plots",
    """
# %% [markdown]
# # Residual plot after a polynomial fit

# %% tags=["imports"]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

# %% tags=["step:data"]
rng = np.random.default_rng(8)
x = np.linspace(-2, 2, 60)
y = 0.5 * x ** 3 - x + rng.normal(0, 0.3, x.size)

# %% tags=["step:fit"]
coef = np.polyfit(x, y, deg=3)
fitted = np.polyval(coef, x)
residuals = y - fitted

# %% tags=["step:plot"]
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
axes[0].scatter(x, y, s=8)
axes[0].plot(x, fitted)
axes[1].scatter(fitted, residuals, s=8)
plt.close(fig)

# %% tags=["step:check", "metrics"]
residual_std = float(residuals.std())
print(round(residual_std, 3))
""",
)

# --- several models ---------------------------------------------------------------------------------------------


nb(
    "models_stacking.ipynb",
    "models",
    """
# %% [markdown]
# # Two base regressors and a linear blend
# %% tags=["imports"]
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import train_test_split
# %% tags=["step:data"]
X, y = make_friedman1(n_samples=200, noise=0.5, random_state=0)
X_a, X_b, y_a, y_b = train_test_split(X, y, test_size=0.5, random_state=0)
# %% tags=["step:base"]
ridge = Ridge(alpha=1.0).fit(X_a, y_a)
gbr = GradientBoostingRegressor(n_estimators=40, max_depth=2, random_state=0).fit(X_a, y_a)
base_predictions = np.column_stack([ridge.predict(X_b), gbr.predict(X_b)])
# %% tags=["step:blend", "model:blender"]
blender = LinearRegression().fit(base_predictions, y_b)
weights = blender.coef_.round(3).tolist()
print(weights)
# %% tags=["step:evaluate", "metrics"]
blend_rmse = float(np.sqrt(np.mean((blender.predict(base_predictions) - y_b) ** 2)))
""",
)

nb(
    "models_per_segment.ipynb",
    "models",
    """
# %% [markdown]
# # One model per segment, trained in a loop
# %% tags=["imports"]
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
# %% tags=["step:data"]
rng = np.random.default_rng(6)
frame = pd.DataFrame({"segment": rng.choice(["a", "b", "c"], 150), "x": rng.uniform(0, 1, 150)})
frame["y"] = frame["x"] * frame["segment"].map({"a": 1.0, "b": 2.0, "c": -1.0}) + rng.normal(0, 0.05, 150)
# %% tags=["step:fit"]
segment_models = {}
for seg, part in frame.groupby("segment"):
    segment_models[seg] = LinearRegression().fit(part[["x"]], part["y"])
slopes = {seg: round(float(m.coef_[0]), 2) for seg, m in segment_models.items()}
print(slopes)
# %% tags=["step:score", "metrics"]
worst_r2 = min(float(m.score(frame.loc[frame.segment == s, ["x"]], frame.loc[frame.segment == s, "y"]))
               for s, m in segment_models.items())
""",
)

# --- parameters cells -------------------------------------------------------------------------------------------

nb(
    "params_papermill.ipynb",
    "params",
    """
# %% [markdown]
# # A papermill-style parameters cell driving every step
# %% tags=["parameters"]
n_samples = 300
n_features = 6
test_size = 0.25
n_estimators = 20
seed = 13
# %% tags=["imports"]
from sklearn.datasets import make_classification
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.model_selection import train_test_split
# %% tags=["step:data"]
X, y = make_classification(n_samples=n_samples, n_features=n_features, n_informative=3, random_state=seed)
# %% tags=["step:split"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed)
# %% tags=["step:train", "model:trees"]
trees = ExtraTreesClassifier(n_estimators=n_estimators, random_state=seed).fit(X_train, y_train)
# %% tags=["step:evaluate", "metrics"]
accuracy = float(trees.score(X_test, y_test))
print(f"accuracy={accuracy:.3f} with {n_estimators} trees")
""",
)


# --- more of each shape -----------------------------------------------------------------------------------------

nb(
    "kaggle_iris_eda.py",
    "kaggle",
    """
# %% [markdown]
# # Iris: the classic first notebook

# %% tags=["imports"]
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.model_selection import cross_val_score
from sklearn.tree import DecisionTreeClassifier

# %% tags=["step:load"]
frame = load_iris(as_frame=True).frame
frame["species"] = frame["target"].map(dict(enumerate(load_iris().target_names)))
print(frame["species"].value_counts().to_dict())

# %% tags=["skip"]
frame.groupby("species").mean(numeric_only=True)

# %% tags=["skip"]
pd.plotting.scatter_matrix(frame.iloc[:, :4], figsize=(6, 6))

# %% tags=["step:model"]
features = frame.iloc[:, :4]
tree = DecisionTreeClassifier(max_depth=3, random_state=0)
fold_scores = cross_val_score(tree, features, frame["target"], cv=5)

# %% tags=["metrics"]
cv_accuracy = float(fold_scores.mean())
print(round(cv_accuracy, 3))
""",
)

nb(
    "gallery_isotonic.ipynb",
    "gallery",
    """
# %% [markdown]
# # Isotonic regression against a straight line
# %%
import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LinearRegression
# %% [markdown]
# ## Noisy increasing data
# %%
n = 100
x = np.arange(n, dtype=float)
rs = np.random.RandomState(0)
y = rs.randint(-20, 50, size=(n,)) + 50.0 * np.log1p(np.arange(n))
# %% [markdown]
# ## Fit both models
# %%
iso_fit = IsotonicRegression(out_of_bounds="clip").fit_transform(x, y)
line_fit = LinearRegression().fit(x[:, None], y).predict(x[:, None])
# %% [markdown]
# ## Compare the errors
# %%
iso_mse = float(np.mean((y - iso_fit) ** 2))
line_mse = float(np.mean((y - line_fit) ** 2))
print(f"isotonic {iso_mse:.1f} vs linear {line_mse:.1f}")
""",
)

nb(
    "kale_wine_steps.ipynb",
    "kale",
    """
# %% [markdown]
# # Wine with Kale's step:/prev: tags and exploration left in
# %% tags=["imports"]
import numpy as np
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeClassifier
# %% tags=["pipeline-parameters"]
n_components = 4
# %% tags=["step:load"]
X, y = load_wine(return_X_y=True)
X = (X - X.mean(axis=0)) / X.std(axis=0)
# %% tags=["skip"]
print(np.corrcoef(X.T).round(2)[:3, :3])
# %% tags=["step:reduce", "prev:load"]
pca = PCA(n_components=n_components, random_state=0)
Z = pca.fit_transform(X)
# %% tags=["step:classify", "prev:reduce"]
ridge = RidgeClassifier().fit(Z, y)
# %% tags=["pipeline-metrics"]
train_accuracy = float(ridge.score(Z, y))
print(train_accuracy)
""",
)

nb(
    "comments_kfold.ipynb",
    "comments",
    """
# %% [markdown]
# # A hand-written k-fold loop, tagged with comments
# %%
# nbprod: imports
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
# %%
# nbprod: parameters
n_splits = 5
alpha = 0.3
# %%
# nbprod: step:data
X, y = load_diabetes(return_X_y=True)
# %%
# nbprod: step:folds
fold_r2 = []
for train_idx, test_idx in KFold(n_splits=n_splits, shuffle=True, random_state=1).split(X):
    model = Ridge(alpha=alpha).fit(X[train_idx], y[train_idx])
    fold_r2.append(model.score(X[test_idx], y[test_idx]))
print([round(v, 3) for v in fold_r2])
# %%
# nbprod: step:summary metrics
mean_r2 = float(np.mean(fold_r2))
""",
)

nb(
    "messy_config_dict.ipynb",
    "messy",
    """
# %% [markdown]
# # A settings dict, helpers in a functions cell, prints everywhere
# %% tags=["imports"]
import numpy as np
import pandas as pd
# %% tags=["functions"]
def zscore(s):
    return (s - s.mean()) / s.std(ddof=0)


def report(title, value):
    print(f"{title:>12}: {value}")
# %% tags=["step:settings"]
SETTINGS = {"n": 120, "seed": 17, "cols": ["a", "b", "c"]}
report("columns", SETTINGS["cols"])
# %% tags=["step:data"]
rng = np.random.default_rng(SETTINGS["seed"])
data = pd.DataFrame(rng.normal(size=(SETTINGS["n"], 3)), columns=SETTINGS["cols"])
# %% tags=["step:normalise"]
normalised = data.apply(zscore)
report("max |z|", round(float(normalised.abs().max().max()), 3))
# %% tags=["step:outliers"]
outliers = int((normalised.abs() > 2.5).sum().sum())
report("outliers", outliers)
""",
)

nb(
    "params_grid.ipynb",
    "params",
    """
# %% [markdown]
# # A small manual grid, its values in the parameters cell
# %% tags=["parameters"]
alphas = [0.01, 0.1, 1.0, 10.0]
seed = 2
# %% tags=["imports"]
from sklearn.datasets import make_regression
from sklearn.linear_model import Lasso
from sklearn.model_selection import train_test_split
# %% tags=["step:data"]
X, y = make_regression(n_samples=150, n_features=8, n_informative=3, noise=10.0, random_state=seed)
X_train, X_valid, y_train, y_valid = train_test_split(X, y, random_state=seed)
# %% tags=["step:grid"]
grid = {a: Lasso(alpha=a, random_state=seed).fit(X_train, y_train).score(X_valid, y_valid) for a in alphas}
print({a: round(s, 4) for a, s in grid.items()})
# %% tags=["step:choose", "metrics"]
best_alpha = float(max(grid, key=grid.get))
best_r2 = float(grid[best_alpha])
""",
)

nb(
    "plots_confusion.ipynb",
    "plots",
    """
# %% [markdown]
# # A confusion matrix drawn after the evaluation
# %% tags=["imports"]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
# %% tags=["step:data"]
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X[:500], y[:500], random_state=0)
# %% tags=["step:train"]
gnb = GaussianNB().fit(X_train, y_train)
predicted = gnb.predict(X_test)
# %% tags=["step:confusion"]
cm = confusion_matrix(y_test, predicted)
fig, ax = plt.subplots(figsize=(4, 4))
ax.imshow(cm)
ax.set_xlabel("predicted")
plt.close(fig)
print(int(cm.trace()), "of", int(cm.sum()), "right")
""",
)

nb(
    "models_voting.ipynb",
    "models",
    """
# %% [markdown]
# # Soft voting over three different models
# %% tags=["imports"]
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier, VotingClassifier
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
# %% tags=["step:data"]
X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=3)
# %% tags=["step:members"]
members = [
    ("forest", RandomForestClassifier(n_estimators=25, random_state=3)),
    ("nb", GaussianNB()),
    ("knn", KNeighborsClassifier(7)),
]
# %% tags=["step:vote", "model:voter"]
voter = VotingClassifier(members, voting="soft").fit(X_train, y_train)
# %% tags=["step:evaluate", "metrics"]
voting_accuracy = float(voter.score(X_test, y_test))
print(round(voting_accuracy, 3))
""",
)


# --- data files ---------------------------------------------------------------------------------------------------


# --- metrics cells that compute non-numbers on the way (pending until save_metrics kept only numbers) -----

nb(
    "comments_params.py",
    "comments",
    """
# %% [markdown]
# # Parameters in a comment-tagged cell

# %%
# nbprod: parameters
window = 5
threshold = 1.5
seed = 21

# %%
# nbprod: imports
import numpy as np
import pandas as pd

# %%
# nbprod: step:signal
rng = np.random.default_rng(seed)
signal = pd.Series(rng.normal(0, 1, 200)).cumsum()

# %%
# nbprod: step:smooth
smooth = signal.rolling(window, min_periods=1).mean()
residual = signal - smooth

# %%
# nbprod: step:flag metrics
flags = residual.abs() > threshold
flag_rate = float(flags.mean())
print(int(flags.sum()), "points flagged")
""",
)

nb(
    "kaggle_credit.ipynb",
    "kaggle",
    """
# %% [markdown]
# # Credit default (synthetic applicants)
# %% tags=["imports"]
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, precision_score
from sklearn.model_selection import train_test_split
# %% tags=["parameters"]
seed = 11
n_trees = 40
# %% tags=["step:applicants"]
rng = np.random.default_rng(seed)
n = 400
applicants = pd.DataFrame({
    "income": rng.lognormal(10, 0.4, n),
    "debt": rng.lognormal(9, 0.7, n),
    "years_employed": rng.integers(0, 30, n),
    "purpose": rng.choice(["car", "home", "study", "other"], n),
})
risk = applicants["debt"] / applicants["income"] - 0.02 * applicants["years_employed"]
applicants["default"] = (risk + rng.normal(0, 0.2, n) > 0.5).astype(int)
# %% tags=["skip"]
applicants["default"].mean()
# %% tags=["step:encode"]
encoded = pd.get_dummies(applicants, columns=["purpose"], dtype=float)
encoded["debt_ratio"] = encoded["debt"] / encoded["income"]
# %% tags=["step:train", "model:forest"]
train, test = train_test_split(encoded, test_size=0.25, random_state=seed)
forest = RandomForestClassifier(n_estimators=n_trees, max_depth=4, random_state=seed)
forest.fit(train.drop(columns="default"), train["default"])
# %% tags=["step:evaluate", "metrics"]
pred = forest.predict(test.drop(columns="default"))
accuracy = float(accuracy_score(test["default"], pred))
precision = float(precision_score(test["default"], pred, zero_division=0))
print(accuracy, precision)
""",
)

nb(
    "models_selection.ipynb",
    "models",
    """
# %% [markdown]
# # Three candidates, the best one kept
# %% tags=["imports"]
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
# %% tags=["parameters"]
seed = 0
# %% tags=["step:data"]
X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
# %% tags=["step:logistic"]
logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)
logistic_score = logistic.score(X_test, y_test)
# %% tags=["step:forest"]
forest = RandomForestClassifier(n_estimators=30, random_state=seed).fit(X_train, y_train)
forest_score = forest.score(X_test, y_test)
# %% tags=["step:knn"]
knn = make_pipeline(StandardScaler(), KNeighborsClassifier(5)).fit(X_train, y_train)
knn_score = knn.score(X_test, y_test)
# %% tags=["step:select", "model:best", "metrics"]
candidates = {"logistic": (logistic_score, logistic), "forest": (forest_score, forest), "knn": (knn_score, knn)}
best_name = max(candidates, key=lambda k: candidates[k][0])
best = candidates[best_name][1]
best_score = float(candidates[best_name][0])
print(best_name, round(best_score, 3))
""",
)

nb(
    "params_threshold.ipynb",
    "params",
    """
# %% [markdown]
# # Choosing a decision threshold
# %% tags=["imports"]
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
# %% tags=["parameters"]
threshold = 0.4
seed = 4
# %% tags=["step:fit"]
X, y = make_classification(n_samples=250, weights=[0.8, 0.2], random_state=seed)
clf = LogisticRegression(max_iter=500).fit(X, y)
scores = clf.predict_proba(X)[:, 1]
# %% tags=["step:decide", "metrics"]
decided = scores >= threshold
recall = float((decided & (y == 1)).sum() / (y == 1).sum())
precision = float((decided & (y == 1)).sum() / max(decided.sum(), 1))
print(round(recall, 3), round(precision, 3))
""",
)


# --- set-up before the first step, and %time (pending until both were understood) ---------------------------

nb(
    "messy_magics.ipynb",
    "messy",
    """
# %% [markdown]
# # Magics left in the notebook
# %%
%matplotlib inline
import numpy as np
import matplotlib.pyplot as plt
# %% tags=["step:data"]
%time values = np.sort(np.random.default_rng(0).normal(size=500))
# %% tags=["step:plot"]
fig, ax = plt.subplots()
ax.plot(values)
plt.close(fig)
median = float(np.median(values))
# %% tags=["step:report"]
print(round(median, 4))
""",
)

nb(
    "plots_between_steps.ipynb",
    "plots",
    """
# %% [markdown]
# # Plots in untagged cells between the steps
# %%
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
# %% tags=["step:simulate"]
rng = np.random.default_rng(12)
walk = rng.normal(size=300).cumsum()
# %%
plt.figure()
plt.plot(walk)
plt.title("random walk")
plt.close()
# %% tags=["step:returns"]
returns = np.diff(walk)
# %%
plt.figure()
plt.hist(returns, bins=20)
plt.close()
# %% tags=["step:stats", "metrics"]
volatility = float(returns.std())
drift = float(returns.mean())
print(round(volatility, 3), round(drift, 3))
""",
)


# --- an instance of a notebook class handed to a step that never names the class -----------------------------

nb(
    "messy_custom_class.ipynb",
    "messy",
    '''
# %% [markdown]
# # A hand-written transformer class and a config object passed between steps
# %% tags=["imports"]
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
# %% tags=["functions"]
@dataclass
class Config:
    n: int = 150
    seed: int = 9
    degree: int = 2


class Poly:
    """x -> [x, x**2, ...] column-wise."""

    def __init__(self, degree):
        self.degree = degree

    def transform(self, X):
        return np.hstack([X ** d for d in range(1, self.degree + 1)])
# %% tags=["step:setup"]
config = Config()
rng = np.random.default_rng(config.seed)
X = rng.normal(size=(config.n, 2))
y = (X[:, 0] ** 2 + X[:, 1] > 0.5).astype(int)
# %% tags=["step:features"]
poly = Poly(config.degree)
F = poly.transform(X)
print(F.shape)
# %% tags=["step:train", "model:clf"]
clf = LogisticRegression(max_iter=500).fit(F, y)
# %% tags=["step:evaluate", "metrics"]
accuracy = float(clf.score(poly.transform(X), y))
print(round(accuracy, 3))
''',
)


def _passengers() -> str:
    import numpy as np

    rng = np.random.default_rng(2024)
    n = 240
    lines = ["passenger_id,pclass,sex,age,fare,embarked,survived"]
    for i in range(n):
        pclass = int(rng.choice([1, 2, 3], p=[0.25, 0.25, 0.5]))
        sex = str(rng.choice(["female", "male"]))
        age = "" if rng.random() < 0.15 else f"{rng.uniform(1, 75):.0f}"
        fare = f"{rng.lognormal(3.5 - 0.5 * pclass, 0.5):.2f}"
        embarked = "" if rng.random() < 0.02 else str(rng.choice(["S", "C", "Q"], p=[0.7, 0.2, 0.1]))
        p = 0.75 if sex == "female" else 0.2
        p += 0.15 if pclass == 1 else -0.1 if pclass == 3 else 0.0
        lines.append(f"{i + 1},{pclass},{sex},{age},{fare},{embarked},{int(rng.random() < p)}")
    return "\n".join(lines) + "\n"


def _churn() -> str:
    import numpy as np

    rng = np.random.default_rng(7)
    lines = ["customer_id,tenure,monthly_charges,contract,support_calls,churned"]
    for i in range(300):
        contract = str(rng.choice(["monthly", "yearly", "two-year"], p=[0.55, 0.3, 0.15]))
        tenure = int(rng.integers(0, 72))
        calls = int(rng.poisson(1.5))
        charges = rng.uniform(20, 110)
        p = 0.45 if contract == "monthly" else 0.12
        p += 0.05 * calls - 0.003 * tenure
        lines.append(f"C{i:04d},{tenure},{charges:.2f},{contract},{calls},{int(rng.random() < max(p, 0.02))}")
    return "\n".join(lines) + "\n"


DATA = {"data/passengers.csv": _passengers, "data/churn.csv": _churn}


# --- writing ------------------------------------------------------------------------------------------------------


def cells_of(text: str) -> list[tuple[str, str, list[str]]]:
    """``(cell_type, source, tags)`` of a percent text (``# %%`` headers, optional ``[markdown]`` and ``tags=``)."""
    cells: list[tuple[str, str, list[str]]] = []
    current: list[str] = []
    kind, tags = None, []

    def close() -> None:
        if kind is None:
            return
        lines = current
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        cells.append((kind, "\n".join(lines).strip("\n"), tags))

    for line in text.strip("\n").split("\n"):
        m = _HEADER.match(line)
        if m:
            close()
            kind, tags, current = ("markdown" if m.group("md") else "code"), json.loads(m.group("tags") or "[]"), []
        else:
            current.append(line)
    close()
    return cells


def ipynb(cells: list[tuple[str, str, list[str]]]) -> str:
    out = []
    for i, (kind, source, tags) in enumerate(cells):
        cell: dict = {"cell_type": kind, "id": f"cell-{i}", "metadata": {"tags": tags} if tags else {}}
        cell["source"] = [ln + "\n" for ln in source.split("\n")[:-1]] + [source.split("\n")[-1]]
        if kind == "code":
            cell["execution_count"] = None
            cell["outputs"] = []
        out.append(cell)
    data = {
        "cells": out,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def render(name: str) -> str:
    _, text = NOTEBOOKS[name]
    if name.endswith(".py"):
        return _PERCENT_HEADER + text.strip("\n") + "\n"
    return ipynb(cells_of(text))


def files() -> dict[str, str]:
    """Every file of the corpus folder: ``{relative path: text}``."""
    out = {name: render(name) for name in NOTEBOOKS}
    out.update({path: make() for path, make in DATA.items()})
    return out


def write(folder: Path = OUT) -> list[Path]:
    written = []
    for rel, text in files().items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


if __name__ == "__main__":
    paths = write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
    print(f"wrote {len(paths)} files")
