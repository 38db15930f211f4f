"""Notebooks 1-20: written the way data scientists write them (gallery, Kaggle, tutorials)."""
from nbdsl import md, code

NB = {}

# ---------------------------------------------------------------- untagged, split at '## '
NB["u01_iris_knn"] = ("untagged", [
    md("# Nearest neighbours on the iris data\nA classic scikit-learn gallery walk-through."),
    code("""
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.metrics import classification_report, confusion_matrix
"""),
    md("## Load the data"),
    code("""
iris = load_iris()
X, y = iris.data, iris.target
print(X.shape, y.shape)
print(iris.target_names)
"""),
    md("## Train/test split"),
    code("""
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
print(len(X_train), len(X_test))
"""),
    md("## Fit the classifier"),
    code("""
clf = KNeighborsClassifier(n_neighbors=5)
clf.fit(X_train, y_train)
"""),
    md("## Evaluate"),
    code("""
y_pred = clf.predict(X_test)
print(classification_report(y_test, y_pred, target_names=iris.target_names))
print(confusion_matrix(y_test, y_pred))
"""),
    md("## Plot"),
    code("""
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(X_test[:, 0], X_test[:, 1], c=y_pred, cmap="viridis")
ax.set_xlabel(iris.feature_names[0])
ax.set_ylabel(iris.feature_names[1])
fig.savefig("knn.png")
print("saved knn.png")
"""),
])

NB["u02_wine_eda"] = ("untagged", [
    md("# Wine: exploratory analysis then a model"),
    code("""
import numpy as np
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
"""),
    md("## Load"),
    code("""
wine = load_wine(as_frame=True)
df = wine.frame
df.head()
"""),
    md("## Explore"),
    code("""
print(df.shape)
print(df["target"].value_counts().sort_index())
"""),
    code("""
df.groupby("target")[["alcohol", "malic_acid", "color_intensity"]].mean().round(3)
"""),
    code("""
corr = df.corr()["target"].drop("target").sort_values()
print(corr.round(3).head(5))
"""),
    md("## Feature engineering"),
    code("""
df["phenol_ratio"] = df["total_phenols"] / df["flavanoids"]
df.drop(columns=["ash"], inplace=True)
print(df.columns.tolist()[-4:])
"""),
    md("## Model"),
    code("""
features = [c for c in df.columns if c != "target"]
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
scores = cross_val_score(model, df[features], df["target"], cv=5)
print("accuracy per fold:", np.round(scores, 3))
print("mean: %.3f" % scores.mean())
"""),
])

NB["u03_digits_pca_svc"] = ("untagged", [
    md("# Digits: PCA then an SVM"),
    code("""
import numpy as np
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.svm import SVC
from sklearn.model_selection import train_test_split
%matplotlib inline
"""),
    md("## Data"),
    code("""
digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(digits.data, digits.target, random_state=42)
"""),
    md("## PCA"),
    code("""
pca = PCA(n_components=20, random_state=0)
Z_train = pca.fit_transform(X_train)
Z_test = pca.transform(X_test)
print("explained variance: %.4f" % pca.explained_variance_ratio_.sum())
"""),
    code("""
plt.plot(np.cumsum(pca.explained_variance_ratio_))
plt.xlabel("components")
plt.ylabel("cumulative variance")
plt.show()
"""),
    md("## SVM"),
    code("""
svc = SVC(kernel="rbf", C=10, gamma=0.001)
svc.fit(Z_train, y_train)
print("test accuracy: %.4f" % svc.score(Z_test, y_test))
"""),
])

NB["u04_diabetes_models"] = ("untagged", [
    md("# Comparing regressors on the diabetes data"),
    code("""
import pandas as pd
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import KFold, cross_val_score
from sklearn.linear_model import LinearRegression, Ridge, Lasso
from sklearn.ensemble import RandomForestRegressor, GradientBoostingRegressor
"""),
    md("## Data"),
    code("""
X, y = load_diabetes(return_X_y=True, as_frame=True)
print(X.describe().T[["mean", "std"]].round(4))
"""),
    md("## Candidate models"),
    code("""
models = {
    "linear": LinearRegression(),
    "ridge": Ridge(alpha=1.0),
    "lasso": Lasso(alpha=0.1),
    "rf": RandomForestRegressor(n_estimators=50, random_state=0),
    "gbr": GradientBoostingRegressor(random_state=0),
}
cv = KFold(n_splits=5, shuffle=True, random_state=1)
"""),
    md("## Cross-validate"),
    code("""
results = []
for name, m in models.items():
    s = cross_val_score(m, X, y, cv=cv, scoring="r2")
    results.append({"model": name, "r2_mean": s.mean(), "r2_std": s.std()})
"""),
    md("## Results"),
    code("""
res = pd.DataFrame(results).sort_values("r2_mean", ascending=False).reset_index(drop=True)
res.round(4)
"""),
    code("""
best = res.loc[0, "model"]
print("best model:", best)
"""),
])

NB["u05_helpers_three_later"] = ("untagged", [
    md("# Helpers defined early, used late"),
    code("""
import numpy as np
import pandas as pd
"""),
    md("## Helpers"),
    code("""
def zscore(s):
    return (s - s.mean()) / s.std(ddof=0)


def summarize(frame, cols):
    out = {}
    for c in cols:
        out[c] = {"mean": round(frame[c].mean(), 3), "max": round(frame[c].max(), 3)}
    return pd.DataFrame(out).T


THRESHOLD = 1.5
"""),
    md("## Generate data"),
    code("""
rng = np.random.default_rng(7)
sales = pd.DataFrame({
    "store": rng.integers(1, 6, size=200),
    "units": rng.poisson(20, size=200),
    "price": rng.normal(9.5, 1.2, size=200).round(2),
})
print(sales.head())
"""),
    md("## Revenue"),
    code("""
sales["revenue"] = sales["units"] * sales["price"]
print(round(sales["revenue"].sum(), 2))
"""),
    md("## Outliers"),
    code("""
sales["z"] = zscore(sales["revenue"])
outliers = sales[sales["z"].abs() > THRESHOLD]
print(len(outliers), "outliers")
print(summarize(sales, ["units", "price", "revenue"]))
"""),
])

NB["u06_rng_across_sections"] = ("untagged", [
    md("# Simulation with a Generator"),
    code("""
import numpy as np
"""),
    md("## Set up the generator"),
    code("""
rng = np.random.default_rng(2024)
first = rng.normal(size=3)
print(np.round(first, 4))
"""),
    md("## Draw a sample"),
    code("""
sample = rng.normal(loc=10, scale=2, size=1000)
print("mean %.4f sd %.4f" % (sample.mean(), sample.std()))
"""),
    md("## Bootstrap"),
    code("""
boot = [rng.choice(sample, size=sample.size).mean() for _ in range(200)]
lo, hi = np.percentile(boot, [2.5, 97.5])
print("95%% CI: [%.4f, %.4f]" % (lo, hi))
"""),
    md("## One more draw"),
    code("""
print(rng.integers(0, 100, size=5))
"""),
])

NB["u07_np_seed_global"] = ("untagged", [
    md("# Legacy numpy seeding"),
    code("""
import numpy as np
import pandas as pd
"""),
    md("## Seed"),
    code("""
np.random.seed(42)
"""),
    md("## Make data"),
    code("""
n = 500
x = np.random.uniform(0, 10, n)
noise = np.random.normal(0, 1, n)
y = 3.0 * x + 2.0 + noise
df = pd.DataFrame({"x": x, "y": y})
print(df.describe().round(3))
"""),
    md("## Fit a line"),
    code("""
slope, intercept = np.polyfit(df["x"], df["y"], 1)
print("slope=%.4f intercept=%.4f" % (slope, intercept))
"""),
    md("## Permutation test"),
    code("""
obs = np.corrcoef(df["x"], df["y"])[0, 1]
perm = [np.corrcoef(np.random.permutation(df["x"]), df["y"])[0, 1] for _ in range(100)]
print("observed r=%.4f, max permuted r=%.4f" % (obs, max(perm)))
"""),
])

NB["u08_results_list_mutation"] = ("untagged", [
    md("# Experiment log kept in a list"),
    code("""
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.model_selection import train_test_split
"""),
    md("## Data and log"),
    code("""
X, y = make_classification(n_samples=400, n_features=10, n_informative=5, random_state=3)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=3)
log = []


def record(entries, name, score):
    entries.append((name, round(score, 4)))
"""),
    md("## Logistic regression"),
    code("""
lr = LogisticRegression(max_iter=500).fit(X_tr, y_tr)
record(log, "logreg", lr.score(X_te, y_te))
"""),
    md("## Trees of several depths"),
    code("""
for depth in [2, 4, 8]:
    tree = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X_tr, y_tr)
    log.append(("tree_%d" % depth, round(tree.score(X_te, y_te), 4)))
"""),
    md("## Report"),
    code("""
for name, score in sorted(log, key=lambda t: -t[1]):
    print(f"{name:10s} {score:.4f}")
print(len(log), "runs")
"""),
])

NB["u09_lambdas_in_dict"] = ("untagged", [
    md("# Feature transforms stored in a dict"),
    code("""
import numpy as np
import pandas as pd
"""),
    md("## Transforms"),
    code("""
transforms = {
    "log": lambda s: np.log1p(s),
    "sqrt": lambda s: np.sqrt(s),
    "square": lambda s: s ** 2,
    "rank": lambda s: s.rank(pct=True),
}
print(sorted(transforms))
"""),
    md("## Data"),
    code("""
rng = np.random.default_rng(11)
raw = pd.DataFrame({"a": rng.exponential(2.0, 300), "b": rng.gamma(2.0, 1.5, 300)})
"""),
    md("## Apply every transform"),
    code("""
out = pd.DataFrame({f"{col}_{name}": f(raw[col]) for col in raw for name, f in transforms.items()})
print(out.shape)
print(out.skew().round(3).sort_index())
"""),
])

NB["u10_dataclass_config"] = ("untagged", [
    md("# A config object for the experiment"),
    code("""
from dataclasses import dataclass, field, asdict
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score
"""),
    md("## Configuration"),
    code("""
@dataclass
class Config:
    n_estimators: int = 60
    max_depth: int = 4
    seed: int = 0
    folds: int = 4
    tags: list = field(default_factory=lambda: ["baseline"])


cfg = Config()
print(asdict(cfg))
"""),
    md("## Data"),
    code("""
X, y = load_breast_cancer(return_X_y=True)
print(X.shape)
"""),
    md("## Variant"),
    code("""
cfg.tags.append("depth4")
cfg.n_estimators = 80
print(cfg)
"""),
    md("## Model"),
    code("""
rf = RandomForestClassifier(n_estimators=cfg.n_estimators, max_depth=cfg.max_depth, random_state=cfg.seed)
scores = cross_val_score(rf, X, y, cv=cfg.folds)
print(cfg.tags, "cv accuracy: %.4f" % scores.mean())
"""),
])

NB["u11_custom_transformer"] = ("untagged", [
    md("# A custom scikit-learn transformer"),
    code("""
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.linear_model import Ridge
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
"""),
    md("## Transformer"),
    code("""
class ClipOutliers(BaseEstimator, TransformerMixin):
    def __init__(self, q=0.05):
        self.q = q

    def fit(self, X, y=None):
        X = np.asarray(X)
        self.lo_ = np.quantile(X, self.q, axis=0)
        self.hi_ = np.quantile(X, 1 - self.q, axis=0)
        return self

    def transform(self, X):
        return np.clip(np.asarray(X), self.lo_, self.hi_)
"""),
    md("## Data"),
    code("""
X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=5)
"""),
    md("## Pipeline"),
    code("""
pipe = Pipeline([("clip", ClipOutliers(q=0.02)), ("scale", StandardScaler()), ("ridge", Ridge(alpha=0.5))])
pipe.fit(X_train, y_train)
print(pipe)
"""),
    md("## Score"),
    code("""
print("R^2 test: %.4f" % pipe.score(X_test, y_test))
print(np.round(pipe.named_steps["clip"].lo_[:3], 4))
"""),
])

NB["u12_wide_dataframe_options"] = ("untagged", [
    md("# Printing wide frames"),
    code("""
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
"""),
    md("## Display options"),
    code("""
pd.set_option("display.max_columns", 50)
pd.set_option("display.width", 250)
pd.set_option("display.precision", 3)
"""),
    md("## Load"),
    code("""
bc = load_breast_cancer(as_frame=True)
df = bc.frame
print(df.head())
"""),
    md("## Describe"),
    code("""
df.describe()
"""),
    md("## Correlations with the target"),
    code("""
print(df.corr()["target"].sort_values().head(8))
"""),
])

# ---------------------------------------------------------------- tagged (README / PRODUCT.md grammar)
NB["t01_churn_classifier"] = ("tagged", [
    md("# Churn model"),
    code("""
n_estimators = 50
seed = 0
test_size = 0.25
""", tags=["parameters"]),
    code("""
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.metrics import accuracy_score, f1_score
""", tags=["imports"]),
    md("## Load data"),
    code("""
rng = np.random.default_rng(seed)
n = 600
df = pd.DataFrame({
    "tenure_months": rng.integers(1, 72, n),
    "monthly_charges": rng.normal(65, 20, n).round(2),
    "support_calls": rng.poisson(2, n),
    "plan": rng.choice(["basic", "plus", "pro"], n),
})
logit = -1.5 + 0.04 * df["monthly_charges"] - 0.05 * df["tenure_months"] + 0.4 * df["support_calls"]
df["churn"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
print(df["churn"].mean().round(3))
""", tags=["step:load"]),
    md("## Features"),
    code("""
X = pd.get_dummies(df.drop(columns="churn"), columns=["plan"], dtype=float)
y = df["churn"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
print(X_train.shape, X_test.shape)
""", tags=["step:features"]),
    md("## Train"),
    code("""
model = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, max_depth=6)
model.fit(X_train, y_train)
""", tags=["step:train", "model:model"]),
    md("## Evaluate"),
    code("""
pred = model.predict(X_test)
accuracy = accuracy_score(y_test, pred)
f1 = f1_score(y_test, pred)
print("accuracy %.4f f1 %.4f" % (accuracy, f1))
""", tags=["step:evaluate", "metrics"]),
])

NB["t02_functions_cell"] = ("tagged", [
    md("# Housing-like regression with shared helpers"),
    code("""
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error
""", tags=["imports"]),
    code("""
def make_houses(n, seed):
    rng = np.random.default_rng(seed)
    area = rng.uniform(40, 200, n)
    rooms = np.clip((area / 30 + rng.normal(0, 0.7, n)).round(), 1, None)
    price = 1500 * area + 8000 * rooms + rng.normal(0, 15000, n)
    return pd.DataFrame({"area": area, "rooms": rooms, "price": price})


def add_features(frame):
    frame = frame.copy()
    frame["area_per_room"] = frame["area"] / frame["rooms"]
    return frame


def report(name, value):
    print(f"{name}: {value:,.2f}")
""", tags=["functions"]),
    md("## Data"),
    code("""
houses = make_houses(500, seed=1)
houses = add_features(houses)
report("mean price", houses["price"].mean())
""", tags=["step:data"]),
    md("## Split"),
    code("""
train = houses.sample(frac=0.8, random_state=0)
test = houses.drop(train.index)
print(len(train), len(test))
""", tags=["step:split"]),
    md("## Fit"),
    code("""
cols = ["area", "rooms", "area_per_room"]
reg = LinearRegression().fit(train[cols], train["price"])
report("intercept", reg.intercept_)
for c, w in zip(cols, reg.coef_):
    report(c, w)
""", tags=["step:fit"]),
    md("## Evaluate"),
    code("""
mae = mean_absolute_error(test["price"], reg.predict(test[cols]))
report("MAE", mae)
""", tags=["step:evaluate"]),
])

NB["t03_comment_tags_followers"] = ("tagged", [
    md("# Comment-style tags, with untagged follower cells"),
    code("""
# nbprod: imports
import numpy as np
import pandas as pd
from scipy import stats
"""),
    code("""
# nbprod: step:generate
rng = np.random.default_rng(99)
control = rng.normal(100, 15, 250)
treatment = rng.normal(104, 15, 250)
"""),
    code("""
print("control mean %.3f" % control.mean())
print("treatment mean %.3f" % treatment.mean())
"""),
    md("Now the test itself."),
    code("""
# nbprod: step:test
t, p = stats.ttest_ind(treatment, control)
print("t=%.4f p=%.6f" % (t, p))
"""),
    code("""
u, p_u = stats.mannwhitneyu(treatment, control)
print("U=%.1f p=%.6f" % (u, p_u))
effect = (treatment.mean() - control.mean()) / np.sqrt((treatment.var(ddof=1) + control.var(ddof=1)) / 2)
"""),
    code("""
# nbprod: step:summary
summary = pd.Series({"t": t, "p": p, "U": u, "p_u": p_u, "cohen_d": effect})
print(summary.round(4))
"""),
])

NB["t04_skip_exploration"] = ("tagged", [
    md("# Breast cancer: a tagged notebook with exploration cells"),
    code("""
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
%matplotlib inline
""", tags=["imports"]),
    code("""
!echo installing nothing
""", tags=["skip"]),
    code("""
data = load_breast_cancer(as_frame=True)
df = data.frame
print(df.shape)
""", tags=["step:load"]),
    code("""
df.iloc[:, :6].hist(figsize=(8, 5))
plt.show()
print(df["target"].value_counts())
""", tags=["skip"]),
    code("""
X = df.drop(columns="target")
y = df["target"]
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_train)
X_train_s = scaler.transform(X_train)
X_test_s = scaler.transform(X_test)
""", tags=["step:prepare"]),
    code("""
clf = LogisticRegression(C=0.5, max_iter=2000)
clf.fit(X_train_s, y_train)
print("train acc %.4f" % clf.score(X_train_s, y_train))
""", tags=["step:train", "model:clf"]),
    code("""
accuracy = clf.score(X_test_s, y_test)
print("test acc %.4f" % accuracy)
""", tags=["step:evaluate", "metrics", "require:accuracy>=0.9"]),
])

NB["t05_kale_style"] = ("tagged", [
    md("# A Kale-tagged notebook"),
    code("""
import numpy as np
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.tree import DecisionTreeClassifier
from sklearn.model_selection import train_test_split
""", tags=["imports"]),
    code("""
MAX_DEPTH = 3
SEED = 4
""", tags=["pipeline-parameters"]),
    code("""
def accuracy(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
""", tags=["functions"]),
    code("""
X, y = load_wine(return_X_y=True)
print(X.shape)
""", tags=["block:loaddata"]),
    code("""
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=SEED)
""", tags=["block:split", "prev:loaddata"]),
    code("""
tree = DecisionTreeClassifier(max_depth=MAX_DEPTH, random_state=SEED).fit(X_tr, y_tr)
print("depth", tree.get_depth(), "leaves", tree.get_n_leaves())
""", tags=["block:train", "prev:split"]),
    code("""
test_accuracy = accuracy(y_te, tree.predict(X_te))
print("test accuracy %.4f" % test_accuracy)
""", tags=["block:evaluate", "prev:train"]),
    code("""
test_accuracy
""", tags=["pipeline-metrics"]),
])

NB["t06_rng_tagged"] = ("tagged", [
    md("# Monte Carlo with a generator, tagged"),
    code("""
seed = 123
n_sims = 2000
""", tags=["parameters"]),
    code("""
import numpy as np
""", tags=["imports"]),
    code("""
rng = np.random.default_rng(seed)
returns = rng.normal(0.0005, 0.01, size=(n_sims, 250))
print("simulated", returns.shape)
""", tags=["step:simulate"]),
    code("""
paths = np.cumprod(1 + returns, axis=1)
final = paths[:, -1]
print("median final %.4f" % np.median(final))
""", tags=["step:paths"]),
    code("""
shocks = rng.standard_t(df=3, size=n_sims) * 0.02
stressed = final * (1 + shocks)
var_95 = np.percentile(stressed - 1, 5)
print("VaR 95%%: %.4f" % var_95)
""", tags=["step:stress"]),
])

NB["t07_class_state_across_steps"] = ("tagged", [
    md("# A tracker object whose state grows across steps"),
    code("""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
""", tags=["imports"]),
    code("""
class Tracker:
    def __init__(self):
        self.history = []

    def log(self, name, value):
        self.history.append((name, round(float(value), 4)))

    def best(self):
        return max(self.history, key=lambda t: t[1])
""", tags=["functions"]),
    code("""
X, y = load_digits(return_X_y=True)
X = X / 16.0
tracker = Tracker()
tracker.log("baseline", np.mean(y == np.bincount(y).argmax()))
""", tags=["step:setup"]),
    code("""
for alpha in [1e-4, 1e-3, 1e-2]:
    clf = SGDClassifier(alpha=alpha, random_state=0, max_iter=50, tol=None)
    clf.fit(X[:1200], y[:1200])
    tracker.log(f"sgd_{alpha}", clf.score(X[1200:], y[1200:]))
""", tags=["step:search"]),
    code("""
print(tracker.history)
print("best:", tracker.best())
""", tags=["step:report"]),
])

NB["t08_file_handoff"] = ("tagged", [
    md("# Steps that talk through files"),
    code("""
import numpy as np
import pandas as pd
""", tags=["imports"]),
    code("""
rng = np.random.default_rng(5)
orders = pd.DataFrame({
    "customer": rng.integers(1, 40, 300),
    "amount": rng.gamma(2.0, 30.0, 300).round(2),
})
orders.to_csv("orders.csv", index=False)
print("wrote", len(orders), "orders")
""", tags=["step:extract"]),
    code("""
loaded = pd.read_csv("orders.csv")
per_customer = loaded.groupby("customer")["amount"].agg(["count", "sum"]).round(2)
per_customer.to_csv("per_customer.csv")
print(per_customer.sort_values("sum", ascending=False).head())
""", tags=["step:aggregate"]),
    code("""
top = pd.read_csv("per_customer.csv", index_col=0)
print("top spender:", int(top["sum"].idxmax()), "total", round(top["sum"].max(), 2))
""", tags=["step:report"]),
])
