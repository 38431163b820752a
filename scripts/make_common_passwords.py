"""Write server/data/common_passwords.txt: the most common passwords, which registration refuses.

The list is the `passwords` frequency list of the zxcvbn package (MIT licence, from leaked-password corpora),
most common first, cut to the entries a length policy does not already refuse (8 characters or more) so that a
lowered `password_min_length` is still covered. Run it again to refresh the list:

    pip install zxcvbn && python scripts/make_common_passwords.py
"""

from __future__ import annotations

from pathlib import Path

from zxcvbn.frequency_lists import FREQUENCY_LISTS

TARGET = Path(__file__).resolve().parents[1] / "server" / "data" / "common_passwords.txt"
KEEP = 10_000
MIN_LENGTH = 8


def main() -> None:
    seen: set[str] = set()
    kept: list[str] = []
    for password in FREQUENCY_LISTS["passwords"]:
        word = password.strip().lower()
        if len(word) >= MIN_LENGTH and word not in seen:
            seen.add(word)
            kept.append(word)
        if len(kept) == KEEP:
            break
    header = ("# The most common passwords of 8 characters or more, most common first, lower-cased.\n"
              "# Made by scripts/make_common_passwords.py from the zxcvbn package's `passwords` list\n"
              "# (MIT licence, Copyright (c) 2016 Daniel Wolf).\n")
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(header + "\n".join(kept) + "\n")
    print(f"{len(kept)} passwords -> {TARGET}")


if __name__ == "__main__":
    main()
