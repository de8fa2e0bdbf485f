"""The contextual model's features: one function for training and serving alike.

Training (from a labelled impression or an interaction) and serving (ranking candidates for a
user in a context) both call :func:`features`, so a feature can never be computed one way when
learning and another way when ranking. Every feature is a one-hot indicator named
``"<name>=<value>"`` with value 1.0, ready for River's ``FeatureHasher`` or a linear model.
Unknown values (no category, no weather yet) give no feature rather than an "unknown" one.

The model's context features are location, weather condition and temperature band, and the
crosses that carry their signal to a linear model; ``use_context=False`` drops exactly those, for
the ablation that shows what context is worth. Hour of day (UTC, from the context's timestamp)
and device stay: they come with every request, not from the weather feed.

>>> from models.base import Context, ItemInfo
>>> rain = Context(ts=8 * 3600.0, location="London", condition="rain", temp_c=7.5, device="app")
>>> x = features("u1", ItemInfo("umbrella", category="rainwear", price=12.0), rain)
>>> sorted(x)  # doctest: +NORMALIZE_WHITESPACE
['category*condition=rainwear|rain', 'category*temp=rainwear|0-10', 'category=rainwear',
 'condition=rain', 'device=app', 'hour=8', 'item*condition=umbrella|rain', 'item=umbrella',
 'location=London', 'price=8-16', 'temp=0-10', 'user*category=u1|rainwear', 'user=u1']
>>> sorted(features("u1", "umbrella", rain, use_context=False))
['device=app', 'hour=8', 'item=umbrella', 'user=u1']
"""

from __future__ import annotations

import functools
import math

from models.base import Context, ItemInfo

__all__ = ["TEMP_EDGES", "TEMP_TOP", "features", "price_band", "temp_band"]

# Temperature bands in °C: below freezing, cold, mild, warm. Coarse on purpose: each band must
# see enough events for its crosses with categories to be learned online.
TEMP_EDGES: tuple[tuple[float, str], ...] = ((0.0, "lt0"), (10.0, "0-10"), (20.0, "10-20"))
TEMP_TOP = "ge20"


def features(user_id: str, item: ItemInfo | str, context: Context, *,
             use_context: bool = True) -> dict[str, float]:
    """One-hot features of (user, item, context) for P(click or purchase).

    ``item`` is the catalogue entry when known; a bare item id gives the item's identity only.
    ``use_context`` is the model's ablation switch, passed by the model, never by its callers.
    """
    if isinstance(item, ItemInfo):
        item_id, category, price = item.item_id, item.category, item.price
    else:
        item_id, category, price = item, None, None
    x = {f"user={user_id}": 1.0, f"item={item_id}": 1.0,
         f"hour={int(context.ts // 3600 % 24)}": 1.0}
    if context.device is not None:
        x[f"device={context.device}"] = 1.0
    if category is not None:
        x[f"category={category}"] = 1.0
        x[f"user*category={user_id}|{category}"] = 1.0
    if price is not None:
        x[f"price={price_band(price)}"] = 1.0
    if not use_context:
        return x

    if context.location is not None:
        x[f"location={context.location}"] = 1.0
    condition = context.condition
    if condition is not None:
        x[f"condition={condition}"] = 1.0
        x[f"item*condition={item_id}|{condition}"] = 1.0
        if category is not None:
            x[f"category*condition={category}|{condition}"] = 1.0
    if context.temp_c is not None:
        band = temp_band(context.temp_c)
        x[f"temp={band}"] = 1.0
        if category is not None:
            x[f"category*temp={category}|{band}"] = 1.0
    return x


# A catalogue has a few thousand distinct prices, and the log and two formats cost more than
# the rest of an example's features together: each band is worked out once.
@functools.lru_cache(maxsize=65_536)
def price_band(price: float) -> str:
    """Power-of-two price bands: a 2x price difference matters about equally at any level.

    >>> price_band(0.85), price_band(12.0), price_band(0.0)
    ('0.5-1', '8-16', '0')
    """
    if price <= 0:
        return "0"
    low = 2.0 ** math.floor(math.log2(price))
    return f"{low:g}-{2 * low:g}"


def temp_band(temp_c: float) -> str:
    """
    >>> temp_band(-3.0), temp_band(0.0), temp_band(19.9), temp_band(20.0)
    ('lt0', '0-10', '10-20', 'ge20')
    """
    for edge, band in TEMP_EDGES:
        if temp_c < edge:
            return band
    return TEMP_TOP
