import numpy as np
from math import erf, erfc
import mpmath
# Region A: erf(x) = x * P(x^2), |x| <= 1
xs = np.cos(np.linspace(0, np.pi, 4000))*0.5+0.5  # x in [0,1]
xs = xs[xs>1e-6]
y = np.array([erf(x)/x for x in xs])
for deg in [5,6]:
    c = np.polynomial.polynomial.polyfit(xs**2, y, deg)
    err = np.max(np.abs(np.polynomial.polynomial.polyval(xs**2, c)*xs - np.array([erf(x) for x in xs])))
    print("A", deg, err, list(c))
# Region B: erfc(t) = exp(-t^2 + R(t-2.5)), t in [1,4]
ts = np.cos(np.linspace(0, np.pi, 4000))*1.5+2.5
y = np.array([float(mpmath.log(mpmath.erfc(t))) + t*t for t in ts])
for deg in [7,8,9]:
    c = np.polynomial.polynomial.polyfit(ts-2.5, y, deg)
    r = np.polynomial.polynomial.polyval(ts-2.5, c)
    err = np.max(np.abs(np.exp(-ts*ts + r) - np.array([erfc(t) for t in ts])))
    print("B", deg, err, list(c))
