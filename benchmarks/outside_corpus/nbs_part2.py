"""Notebooks 21-46."""
from nbdsl import md, code

NB = {}

# ---------------------------------------------------------------- untagged
NB["u13_closures_decorators"] = ("untagged", [
    md("# Closures and decorators in an analysis"),
    code("""
import functools
import numpy as np
"""),
    md("## Utilities"),
    code("""
CALLS = {}


def counted(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        CALLS[fn.__name__] = CALLS.get(fn.__name__, 0) + 1
        return fn(*args, **kwargs)
    return wrapper


def make_scaler(factor, offset=0.0):
    def scale(x):
        return x * factor + offset
    return scale


@counted
def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))
"""),
    md("## Data"),
    code("""
rng = np.random.default_rng(3)
truth = rng.normal(50, 10, 100)
pred = truth + rng.normal(0, 3, 100)
to_celsius = make_scaler(5 / 9, -32 * 5 / 9)
print(round(to_celsius(212), 2))
"""),
    md("## Evaluate"),
    code("""
print("rmse %.4f" % rmse(truth, pred))
print("rmse scaled %.4f" % rmse(to_celsius(truth), to_celsius(pred)))
"""),
    md("## How often did we evaluate?"),
    code("""
print(CALLS)
"""),
])

NB["u14_generator_batches"] = ("untagged", [
    md("# Mini-batches from a generator"),
    code("""
import numpy as np
from sklearn.datasets import make_regression
from sklearn.linear_model import SGDRegressor
"""),
    md("## Data"),
    code("""
X, y = make_regression(n_samples=600, n_features=5, noise=5.0, random_state=8)


def batches(X, y, size):
    for start in range(0, len(X), size):
        yield X[start:start + size], y[start:start + size]


stream = batches(X, y, 100)
"""),
    md("## Warm start on the first batch"),
    code("""
model = SGDRegressor(random_state=0, learning_rate="constant", eta0=0.01)
Xb, yb = next(stream)
model.partial_fit(Xb, yb)
print("after 1 batch: %.3f" % model.score(X, y))
"""),
    md("## The remaining batches"),
    code("""
seen = 1
for Xb, yb in stream:
    model.partial_fit(Xb, yb)
    seen += 1
print(seen, "batches, R^2 %.4f" % model.score(X, y))
"""),
])

NB["u15_globals_del_try"] = ("untagged", [
    md("# Cleaning with global counters, try/except and del"),
    code("""
import numpy as np
import pandas as pd
"""),
    md("## Raw records"),
    code("""
raw = pd.DataFrame({
    "id": range(1, 11),
    "age": ["34", "27", "n/a", "45", "51", "?", "38", "29", "62", "40"],
    "income": [52000, 48000, 61000, None, 75000, 39000, None, 45000, 88000, 57000],
})
bad_rows = 0


def parse_age(v):
    global bad_rows
    try:
        return int(v)
    except ValueError:
        bad_rows += 1
        return np.nan
"""),
    md("## Parse"),
    code("""
clean = raw.copy()
clean["age"] = clean["age"].map(parse_age)
clean["income"] = clean["income"].fillna(clean["income"].median())
print("bad ages:", bad_rows)
del raw
"""),
    md("## Optional dependency"),
    code("""
try:
    import nonexistent_fancy_lib as fancy
    backend = "fancy"
except ImportError:
    backend = "pandas"
print("backend:", backend)
"""),
    md("## Summary"),
    code("""
print(clean.dropna().describe().loc[["mean", "min", "max"]].round(1))
print("raw" in dir(), bad_rows)
"""),
])

NB["u16_magics_time"] = ("untagged", [
    md("# Timing things with magics"),
    code("""
import numpy as np
"""),
    md("## Build a matrix"),
    code("""
%time M = np.random.default_rng(0).normal(size=(300, 300))
"""),
    md("## Decompose"),
    code("""
%%time
eigvals = np.linalg.eigvalsh(M @ M.T)
print("largest eigenvalue %.3f" % eigvals[-1])
"""),
    md("## Shell"),
    code("""
!echo "shell says hi"
files = !ls
print(type(files).__name__)
"""),
    md("## Report"),
    code("""
print("trace %.3f" % np.trace(M @ M.T))
"""),
])

NB["u17_out_of_order_redefine"] = ("untagged", [
    md("# A notebook written out of order\nThe threshold was changed later and a cell reuses the same names."),
    code("""
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
""", ec=3),
    md("## Model"),
    code("""
X, y = load_breast_cancer(return_X_y=True)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=1)
clf = LogisticRegression(max_iter=5000).fit(X_tr, y_tr)
proba = clf.predict_proba(X_te)[:, 1]
threshold = 0.5
""", ec=1),
    md("## Predictions at the first threshold"),
    code("""
pred = (proba >= threshold).astype(int)
print("threshold", threshold, "positives", pred.sum(), "acc %.4f" % (pred == y_te).mean())
""", ec=7),
    md("## A stricter threshold"),
    code("""
threshold = 0.8
pred = (proba >= threshold).astype(int)
""", ec=5),
    md("## Compare"),
    code("""
print("threshold", threshold, "positives", pred.sum(), "acc %.4f" % (pred == y_te).mean())
""", ec=6),
])

NB["u18_inplace_pandas_subscript"] = ("untagged", [
    md("# In-place pandas edits across sections"),
    code("""
import numpy as np
import pandas as pd
"""),
    md("## Data"),
    code("""
rng = np.random.default_rng(21)
df = pd.DataFrame({
    "city": rng.choice(["Lyon", "Oslo", "Kyiv", "Lima"], 120),
    "temp": rng.normal(12, 6, 120).round(1),
    "rain": rng.gamma(1.5, 2.0, 120).round(1),
})
df.loc[rng.choice(120, 10, replace=False), "temp"] = np.nan
print(df.isna().sum().to_dict())
"""),
    md("## Fill and sort in place"),
    code("""
df.fillna({"temp": df["temp"].mean()}, inplace=True)
df.sort_values(["city", "temp"], inplace=True)
df.reset_index(drop=True, inplace=True)
print(df.head(3))
"""),
    md("## New columns by assignment"),
    code("""
df["wet"] = df["rain"] > 3
df.loc[df["temp"] < 5, "temp_band"] = "cold"
df.loc[df["temp"] >= 5, "temp_band"] = "mild"
df.rename(columns={"rain": "rain_mm"}, inplace=True)
"""),
    md("## Lookup table edits"),
    code("""
country = {"Lyon": "FR", "Oslo": "NO", "Kyiv": "UA"}
country["Lima"] = "PE"
df["country"] = df["city"].map(country)
counts = np.zeros(4, dtype=int)
counts[0] += 1
"""),
    md("## Summary"),
    code("""
print(df.groupby(["country", "temp_band"])["rain_mm"].mean().round(2))
print(df["wet"].sum(), counts.tolist(), sorted(country.items()))
"""),
])

NB["u19_column_transformer_grid"] = ("untagged", [
    md("# Mixed-type data: ColumnTransformer and a grid search"),
    code("""
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
"""),
    md("## Synthetic customers"),
    code("""
rng = np.random.default_rng(17)
n = 500
customers = pd.DataFrame({
    "age": rng.integers(18, 80, n).astype(float),
    "balance": rng.lognormal(8, 1, n),
    "segment": rng.choice(["retail", "sme", "corporate"], n, p=[0.6, 0.3, 0.1]),
    "channel": rng.choice(["web", "branch", "phone"], n),
})
customers.loc[rng.choice(n, 25, replace=False), "age"] = np.nan
score = 0.03 * np.nan_to_num(customers["age"], nan=40) + (customers["segment"] == "sme") * 0.8 - 1.8
customers["buys"] = (rng.random(n) < 1 / (1 + np.exp(-score))).astype(int)
print(customers["buys"].mean().round(3))
"""),
    md("## Preprocessing"),
    code("""
numeric = ["age", "balance"]
categorical = ["segment", "channel"]
pre = ColumnTransformer([
    ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
    ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
])
clf = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=1000))])
"""),
    md("## Grid search"),
    code("""
X_tr, X_te, y_tr, y_te = train_test_split(customers.drop(columns="buys"), customers["buys"], random_state=0)
grid = GridSearchCV(clf, {"lr__C": [0.01, 0.1, 1.0, 10.0]}, cv=4)
grid.fit(X_tr, y_tr)
print(grid.best_params_, "cv %.4f" % grid.best_score_)
"""),
    md("## Test"),
    code("""
print("test accuracy %.4f" % grid.score(X_te, y_te))
pd.DataFrame(grid.cv_results_)[["param_lr__C", "mean_test_score"]].round(4)
"""),
])

NB["u20_cv_compare_stratified"] = ("untagged", [
    md("# Several classifiers compared with stratified CV"),
    code("""
import numpy as np
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.ensemble import RandomForestClassifier, ExtraTreesClassifier
from sklearn.naive_bayes import GaussianNB
"""),
    md("## Data"),
    code("""
X, y = load_wine(return_X_y=True)
skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=42)
"""),
    md("## Models"),
    code("""
candidates = [
    ("knn", make_pipeline(StandardScaler(), KNeighborsClassifier(7))),
    ("svc", make_pipeline(StandardScaler(), SVC(C=1.0))),
    ("rf", RandomForestClassifier(n_estimators=100, random_state=0)),
    ("et", ExtraTreesClassifier(n_estimators=100, random_state=0)),
    ("nb", GaussianNB()),
]
"""),
    md("## Run"),
    code("""
rows = {}
for name, est in candidates:
    cvres = cross_validate(est, X, y, cv=skf, scoring=["accuracy", "f1_macro"])
    rows[name] = {"accuracy": cvres["test_accuracy"].mean(), "f1": cvres["test_f1_macro"].mean()}
table = pd.DataFrame(rows).T.sort_values("f1", ascending=False)
table.round(4)
"""),
    md("## Winner"),
    code("""
print("winner:", table.index[0])
"""),
])

NB["u21_scipy_stats"] = ("untagged", [
    md("# Hypothesis tests with scipy.stats"),
    code("""
import numpy as np
import pandas as pd
from scipy import stats
"""),
    md("## Samples"),
    code("""
rng = np.random.default_rng(314)
a = rng.normal(5.0, 1.0, 80)
b = rng.normal(5.4, 1.2, 80)
c = rng.exponential(1.0, 80)
"""),
    md("## Normality"),
    code("""
for name, s in [("a", a), ("b", b), ("c", c)]:
    w, p = stats.shapiro(s)
    print(f"{name}: W={w:.4f} p={p:.4g}")
"""),
    md("## Two-sample tests"),
    code("""
print("t-test p=%.4g" % stats.ttest_ind(a, b, equal_var=False).pvalue)
print("KS p=%.4g" % stats.ks_2samp(a, c).pvalue)
"""),
    md("## Contingency table"),
    code("""
table = pd.crosstab(rng.choice(["x", "y"], 200), rng.choice(["p", "q", "r"], 200))
chi2, p, dof, _ = stats.chi2_contingency(table)
print(table)
print("chi2=%.3f dof=%d p=%.4f" % (chi2, dof, p))
"""),
    md("## Correlation"),
    code("""
r, p = stats.pearsonr(a, b)
rho, p_s = stats.spearmanr(a, c)
print("pearson %.4f (p=%.3f) spearman %.4f (p=%.3f)" % (r, p, rho, p_s))
"""),
])

NB["u22_markdown_only_sections"] = ("untagged", [
    md("# Report-style notebook"),
    md("## Introduction\nThis notebook estimates the average basket size. No code in this section."),
    code("""
import numpy as np
import pandas as pd
"""),
    md("## Data"),
    code("""
rng = np.random.default_rng(8)
baskets = pd.Series(rng.poisson(6, 1000) + 1, name="items")
"""),
    md("## Method\nWe report the mean and a normal-approximation interval."),
    md("## Results"),
    code("""
m = baskets.mean()
se = baskets.std(ddof=1) / np.sqrt(len(baskets))
print("mean items %.3f +/- %.3f" % (m, 1.96 * se))
"""),
    code("""
baskets.value_counts().sort_index().head(10)
"""),
    md("## Discussion\nThe distribution is right-skewed; the interval is still reasonable at n=1000."),
    md("## Printing only"),
    code("""
print("done")
print("n =", len(baskets))
"""),
])

NB["u23_csv_roundtrip"] = ("untagged", [
    md("# Write a CSV, read it back"),
    code("""
import os
import numpy as np
import pandas as pd
"""),
    md("## Generate and save"),
    code("""
rng = np.random.default_rng(42)
events = pd.DataFrame({
    "day": pd.date_range("2024-01-01", periods=90, freq="D").strftime("%Y-%m-%d"),
    "visits": rng.poisson(200, 90),
    "signups": rng.binomial(20, 0.3, 90),
})
os.makedirs("data", exist_ok=True)
events.to_csv("data/events.csv", index=False)
print(os.path.exists("data/events.csv"))
"""),
    md("## Load"),
    code("""
ev = pd.read_csv("data/events.csv", parse_dates=["day"])
ev["month"] = ev["day"].dt.month
print(ev.dtypes.astype(str).to_dict())
"""),
    md("## Monthly summary"),
    code("""
monthly = ev.groupby("month").agg(visits=("visits", "sum"), signups=("signups", "sum"))
monthly["rate"] = (monthly["signups"] / monthly["visits"]).round(4)
monthly.to_csv("data/monthly.csv")
monthly
"""),
    md("## Re-read"),
    code("""
check = pd.read_csv("data/monthly.csv", index_col="month")
print(check.equals(monthly), check["rate"].max())
"""),
])

NB["u24_matplotlib_figure_across"] = ("untagged", [
    md("# A figure built over several sections"),
    code("""
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
"""),
    md("## Data"),
    code("""
x = np.linspace(0, 4 * np.pi, 200)
signals = {"sin": np.sin(x), "cos": np.cos(x), "damped": np.exp(-x / 5) * np.sin(2 * x)}
"""),
    md("## Create the figure"),
    code("""
fig, ax = plt.subplots(figsize=(6, 3))
for name, s in signals.items():
    ax.plot(x, s, label=name)
"""),
    md("## Decorate"),
    code("""
ax.set_title("three signals")
ax.legend()
plt.xlabel("t")
print(len(ax.lines), "lines")
"""),
    md("## Save"),
    code("""
fig.savefig("signals.png", dpi=80)
print(ax.get_title(), ax.get_xlabel())
"""),
])

NB["u25_kaggle_titanic_like"] = ("untagged", [
    md("# Titanic-style survival: EDA then a model\n(synthetic passengers, so it runs offline)"),
    code("""
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score
"""),
    md("## Load the data"),
    code("""
rng = np.random.default_rng(1912)
n = 700
train = pd.DataFrame({
    "Pclass": rng.choice([1, 2, 3], n, p=[0.25, 0.2, 0.55]),
    "Sex": rng.choice(["male", "female"], n, p=[0.64, 0.36]),
    "Age": rng.normal(30, 14, n).clip(0.5, 80).round(),
    "SibSp": rng.poisson(0.5, n),
    "Fare": rng.lognormal(3, 1, n).round(2),
    "Embarked": rng.choice(["S", "C", "Q", None], n, p=[0.7, 0.18, 0.1, 0.02]),
})
train.loc[rng.choice(n, 120, replace=False), "Age"] = np.nan
logit = 1.5 * (train["Sex"] == "female") - 0.8 * (train["Pclass"] - 2) - 0.02 * train["Age"].fillna(30) - 0.3
train["Survived"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
train.head()
"""),
    md("## EDA"),
    code("""
print(train.isnull().sum())
print(train.groupby("Sex")["Survived"].mean().round(3))
pd.crosstab(train["Pclass"], train["Survived"], normalize="index").round(3)
"""),
    md("## Feature engineering"),
    code("""
train["Age"] = train["Age"].fillna(train["Age"].median())
train["Embarked"] = train["Embarked"].fillna(train["Embarked"].mode()[0])
train["Sex"] = train["Sex"].map({"male": 0, "female": 1})
train["FareBand"] = pd.qcut(train["Fare"], 4, labels=False)
train["IsAlone"] = train["SibSp"].apply(lambda s: 1 if s == 0 else 0)
train = pd.get_dummies(train, columns=["Embarked"], prefix="Emb", dtype=int)
print(train.columns.tolist())
"""),
    md("## Model"),
    code("""
features = [c for c in train.columns if c not in ("Survived", "Fare")]
rf = RandomForestClassifier(n_estimators=100, max_depth=5, random_state=1)
print("cv acc %.4f" % cross_val_score(rf, train[features], train["Survived"], cv=5).mean())
rf.fit(train[features], train["Survived"])
"""),
    md("## Feature importance"),
    code("""
imp = pd.Series(rf.feature_importances_, index=features).sort_values(ascending=False)
print(imp.round(4))
"""),
])

NB["u26_top_cell_loads_data"] = ("untagged", [
    md("# Quick regression\nThe first cell does the imports and loads the data, as many notebooks do."),
    code("""
import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

X, y = load_diabetes(return_X_y=True, as_frame=True)
print(X.shape)
"""),
    md("## Fit"),
    code("""
lr = LinearRegression().fit(X, y)
print("R^2 %.4f" % lr.score(X, y))
"""),
    md("## Coefficients"),
    code("""
print(pd.Series(lr.coef_, index=X.columns).round(2).sort_values())
"""),
])

NB["u27_set_option_in_imports"] = ("untagged", [
    md("# Pandas display options set with the imports"),
    code("""
import numpy as np
import pandas as pd
pd.set_option("display.float_format", "{:.2f}".format)
pd.set_option("display.max_columns", 30)
pd.set_option("display.width", 200)
"""),
    md("## Data"),
    code("""
rng = np.random.default_rng(4)
wide = pd.DataFrame(rng.normal(size=(6, 16)) * 1000, columns=[f"feature_{i:02d}" for i in range(16)])
print(wide)
"""),
    md("## Aggregates"),
    code("""
wide.agg(["mean", "std"])
"""),
    md("## Ratio"),
    code("""
print((wide["feature_00"] / wide["feature_01"]).abs().mean())
"""),
])

NB["u28_random_module_shuffle"] = ("untagged", [
    md("# Sampling with the random module"),
    code("""
import random
import statistics
"""),
    md("## Seed"),
    code("""
random.seed(1234)
deck = [f"{r}{s}" for r in "23456789TJQKA" for s in "shdc"]
"""),
    md("## Shuffle and deal"),
    code("""
random.shuffle(deck)
hands = [deck[i * 5:(i + 1) * 5] for i in range(4)]
for h in hands:
    print(" ".join(h))
"""),
    md("## Simulate"),
    code("""
rolls = [random.randint(1, 6) + random.randint(1, 6) for _ in range(5000)]
print("mean %.4f" % statistics.mean(rolls), "mode", statistics.mode(rolls))
print(random.random())
"""),
])

# ---------------------------------------------------------------- tagged
NB["t09_kale_pipeline_metrics"] = ("tagged", [
    md("# Kale: digits with a skip cell and metrics"),
    code("""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.metrics import accuracy_score, f1_score
""", tags=["imports"]),
    code("""
N_TREES = 40
""", tags=["pipeline-parameters"]),
    code("""
digits = load_digits()
X, y = digits.data, digits.target
""", tags=["block:data"]),
    code("""
print(np.bincount(y))
""", tags=["skip"]),
    code("""
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=7, stratify=y)
rf = RandomForestClassifier(n_estimators=N_TREES, random_state=7).fit(X_train, y_train)
""", tags=["block:train", "prev:data"]),
    code("""
pred = rf.predict(X_test)
acc = accuracy_score(y_test, pred)
macro_f1 = f1_score(y_test, pred, average="macro")
print("acc %.4f macro-f1 %.4f" % (acc, macro_f1))
""", tags=["block:evaluate", "prev:train"]),
    code("""
print(acc)
print(macro_f1)
""", tags=["pipeline-metrics"]),
])

NB["t10_after_dependency"] = ("tagged", [
    md("# Explicit ordering through a file"),
    code("""
import json
import numpy as np
""", tags=["imports"]),
    code("""
config = {"bins": 8, "low": 0.0, "high": 1.0}
with open("config.json", "w") as f:
    json.dump(config, f)
print("config written")
""", tags=["step:write_config"]),
    code("""
with open("config.json") as f:
    cfg = json.load(f)
values = np.random.default_rng(0).beta(2, 5, 1000)
hist, edges = np.histogram(values, bins=cfg["bins"], range=(cfg["low"], cfg["high"]))
print(hist.tolist())
""", tags=["step:histogram", "after:write_config"]),
    code("""
print("mode bin:", int(hist.argmax()), "edges %.3f-%.3f" % (edges[hist.argmax()], edges[hist.argmax() + 1]))
""", tags=["step:report"]),
])

NB["t11_step_extended_later"] = ("tagged", [
    md("# A step extended further down\nThe author came back to the load step after training."),
    code("""
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
""", tags=["imports"]),
    code("""
rng = np.random.default_rng(10)
df = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
df["y"] = 2 * df["x1"] - df["x2"] + rng.normal(0, 0.1, 200)
print(df.shape)
""", tags=["step:load"]),
    code("""
lr = LinearRegression().fit(df[["x1", "x2"]], df["y"])
print(np.round(lr.coef_, 3))
""", tags=["step:train"]),
    code("""
print("rows with x1 > 0:", int((df["x1"] > 0).sum()))
""", tags=["step:load"]),
    code("""
print("R^2 %.4f" % lr.score(df[["x1", "x2"]], df["y"]))
""", tags=["step:evaluate"]),
])

NB["t12_serve_preprocess"] = ("tagged", [
    md("# Iris with a serving preprocess function"),
    code("""
import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
""", tags=["imports"]),
    code("""
def preprocess(df):
    out = df.copy()
    out["petal_area"] = out["petal length (cm)"] * out["petal width (cm)"]
    out["sepal_ratio"] = out["sepal length (cm)"] / out["sepal width (cm)"]
    return out


def postprocess(pred):
    return [["setosa", "versicolor", "virginica"][int(p)] for p in pred]
""", tags=["serve"]),
    code("""
iris = load_iris(as_frame=True)
features = preprocess(iris.data)
target = iris.target
print(features.columns.tolist())
""", tags=["step:features"]),
    code("""
model = LogisticRegression(max_iter=1000).fit(features, target)
print("train accuracy %.4f" % model.score(features, target))
""", tags=["step:train", "model:model"]),
    code("""
sample = preprocess(iris.data.iloc[[0, 60, 120]])
print(postprocess(model.predict(sample)))
""", tags=["step:predict"]),
])

NB["t13_parameters_derived"] = ("tagged", [
    md("# Parameters, one of them derived"),
    code("""
n_samples = 400
noise = 0.3
seed = 12
test_fraction = 0.25
n_test = int(n_samples * test_fraction)
""", tags=["parameters"]),
    code("""
import numpy as np
from sklearn.datasets import make_moons
from sklearn.svm import SVC
""", tags=["imports"]),
    code("""
X, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
X_train, y_train = X[:-n_test], y[:-n_test]
X_test, y_test = X[-n_test:], y[-n_test:]
print(len(X_train), len(X_test))
""", tags=["step:data"]),
    code("""
svm = SVC(C=3.0, gamma=2.0).fit(X_train, y_train)
print("test accuracy %.4f" % svm.score(X_test, y_test))
""", tags=["step:model"]),
])

NB["t14_gate_tag"] = ("tagged", [
    md("# A gated data step"),
    code("""
import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
""", tags=["imports"]),
    code("""
rng = np.random.default_rng(77)
df = pd.DataFrame({"size": rng.uniform(20, 120, 300), "age": rng.integers(0, 50, 300)})
df["price"] = 3000 * df["size"] - 500 * df["age"] + rng.normal(0, 8000, 300)
print(df.describe().round(1))
""", tags=["step:load", "gate:df"]),
    code("""
reg = Ridge(alpha=1.0).fit(df[["size", "age"]], df["price"])
r2 = reg.score(df[["size", "age"]], df["price"])
print("r2 %.4f" % r2)
""", tags=["step:train", "metrics", "require:r2>=0.5"]),
])

NB["t15_magics_tagged"] = ("tagged", [
    md("# Magics inside steps"),
    code("""
import numpy as np
import pandas as pd
%matplotlib inline
""", tags=["imports"]),
    code("""
!echo preparing
%time data = np.random.default_rng(5).poisson(3, size=(1000, 4))
print(data.sum())
""", tags=["step:prepare"]),
    code("""
%%time
frame = pd.DataFrame(data, columns=list("abcd"))
print(frame.mean().round(4).to_dict())
""", tags=["step:frame"]),
    code("""
%who_ls
""", tags=["skip"]),
    code("""
frame.plot(kind="hist", alpha=0.5)
print(frame.corr().round(3).iloc[0].tolist())
""", tags=["step:plot"]),
])

NB["t16_display_objects"] = ("tagged", [
    md("# Displaying objects"),
    code("""
import numpy as np
import pandas as pd
from IPython.display import display
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, PolynomialFeatures
from sklearn.linear_model import Ridge
from sklearn.datasets import load_diabetes
""", tags=["imports"]),
    code("""
X, y = load_diabetes(return_X_y=True, as_frame=True)
display(X.iloc[:3, :5].round(4))
display({"rows": len(X), "cols": X.shape[1]})
""", tags=["step:load"]),
    code("""
pipe = make_pipeline(PolynomialFeatures(2), StandardScaler(), Ridge(alpha=10.0))
pipe.fit(X, y)
display(pipe)
display(pd.Series(pipe[-1].coef_[:5]).round(3))
""", tags=["step:fit"]),
    code("""
pipe.score(X, y)
""", tags=["step:score"]),
])

NB["t17_functions_global_writes"] = ("tagged", [
    md("# A helper that writes a global"),
    code("""
import numpy as np
""", tags=["imports"]),
    code("""
history = []
best_loss = float("inf")


def train_epoch(w, X, y, lr):
    global best_loss
    grad = 2 * X.T @ (X @ w - y) / len(y)
    w = w - lr * grad
    loss = float(np.mean((X @ w - y) ** 2))
    history.append(round(loss, 5))
    if loss < best_loss:
        best_loss = loss
    return w
""", tags=["functions"]),
    code("""
rng = np.random.default_rng(6)
X = rng.normal(size=(200, 3))
y = X @ np.array([1.5, -2.0, 0.5]) + rng.normal(0, 0.1, 200)
w = np.zeros(3)
""", tags=["step:data"]),
    code("""
for epoch in range(30):
    w = train_epoch(w, X, y, lr=0.05)
print(np.round(w, 4))
""", tags=["step:train"]),
    code("""
print("epochs:", len(history), "first %.4f last %.4f best %.5f" % (history[0], history[-1], best_loss))
""", tags=["step:report"]),
])

NB["t18_inplace_across_tagged"] = ("tagged", [
    md("# In-place changes in later steps"),
    code("""
import numpy as np
import pandas as pd
""", tags=["imports"]),
    code("""
rng = np.random.default_rng(33)
df = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
df.loc[::7, "b"] = np.nan
scores = [3, 1, 2]
meta = {"source": "synthetic"}
""", tags=["step:load"]),
    code("""
df.dropna(inplace=True)
df["c"] = df["a"] * df["b"]
scores.sort()
meta.update(rows=len(df))
""", tags=["step:clean"]),
    code("""
print(df.shape, round(df["c"].sum(), 4))
print(scores, meta)
""", tags=["step:report"]),
])
