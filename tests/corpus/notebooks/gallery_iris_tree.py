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
