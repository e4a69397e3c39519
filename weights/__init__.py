"""The trained weights that ship with digitpad, installed as the package digitpad.shipped."""
