"""A short, human summary of a browser's User-Agent header ("Firefox on Windows"), for notices and session lists.

A few ordered patterns cover the browsers and systems people sign in from; anything else is "Unknown browser"
(the full header stays available beside it). Order matters: Edge and Opera also say "Chrome", Chrome also says
"Safari", Android also says "Linux", iOS also says "Mac OS X".
"""

import re

_BROWSERS = [
    ("Edge", r"\bEdg(?:e|A|iOS)?/"),
    ("Opera", r"\bOPR/|\bOpera\b"),
    ("Samsung Internet", r"\bSamsungBrowser/"),
    ("Firefox", r"\bFirefox/|\bFxiOS/"),
    ("Chrome", r"\bChrome/|\bCriOS/|\bChromium/"),
    ("Safari", r"\bSafari/"),
    ("curl", r"^curl/"),
    ("Python", r"\bpython-requests/|\bPython-urllib/|\baiohttp/"),
]
_SYSTEMS = [
    ("Android", r"\bAndroid\b"),
    ("iOS", r"\biPhone\b|\biPad\b|\biPod\b"),
    ("ChromeOS", r"\bCrOS\b"),
    ("Windows", r"\bWindows\b"),
    ("macOS", r"\bMac OS X\b|\bMacintosh\b"),
    ("Linux", r"\bLinux\b|\bX11\b"),
]


def _first(patterns, user_agent):
    return next((name for name, pattern in patterns if re.search(pattern, user_agent)), None)


def user_agent_summary(user_agent):
    """``"Firefox on Linux"``, ``"Safari on iOS"``, ``"Chrome"``, or ``"Unknown browser"``."""
    user_agent = user_agent or ""
    browser = _first(_BROWSERS, user_agent) or "Unknown browser"
    system = _first(_SYSTEMS, user_agent)
    return f"{browser} on {system}" if system else browser
