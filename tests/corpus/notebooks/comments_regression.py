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
