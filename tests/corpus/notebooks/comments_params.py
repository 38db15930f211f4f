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
