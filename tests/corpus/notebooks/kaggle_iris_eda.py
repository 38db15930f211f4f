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
