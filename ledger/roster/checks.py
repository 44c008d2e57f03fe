"""Checking a roster table as a whole, with pandas: no loop over its rows in Python.

Each check is a mask over the rows; the problems it finds become rows of one problems table (row, column, code,
message), so a file of 350 000 members is checked in a few vectorised passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ledger.roster.files import ADDRESS, CODE, COLUMNS, HEAD, HOUSE_NUMBER, NAME, PHONE, RELATION, TOWNSHIP, VILLAGE

PROBLEM_COLUMNS = ["row", "column", "code", "message"]

# What the columns hold at most (the tables' own limits: a longer value would not fit)
LONGEST = {TOWNSHIP: 100, VILLAGE: 100, CODE: 32, HOUSE_NUMBER: 20, ADDRESS: 200, NAME: 100, RELATION: 20}

MOBILE = r"1[3-9]\d{9}"


@dataclass
class Problems:
    """Problems as they are found: a list of small tables, joined once at the end."""

    parts: list[pd.DataFrame]

    def add(self, rows: pd.Index, column: str | None, code: str, message: str | pd.Series) -> None:
        if len(rows) == 0:
            return
        text = message.loc[rows].astype(str).to_numpy() if isinstance(message, pd.Series) else message
        self.parts.append(pd.DataFrame({"row": rows.to_numpy(), "column": column, "code": code, "message": text}))

    def table(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=PROBLEM_COLUMNS)
        found = pd.concat(self.parts, ignore_index=True)
        return found.sort_values(["row", "code"], kind="stable").reset_index(drop=True)

    def __bool__(self) -> bool:
        return any(len(part) for part in self.parts)


def clean(table: pd.DataFrame) -> pd.DataFrame:
    """The roster's own columns, trimmed, without rows left wholly empty; the phone normalised (`phone`: eleven
    digits, or missing when empty or malformed) and `is_head` marked."""
    frame = pd.DataFrame({column: table[column].astype(str).str.strip() for column in COLUMNS}, index=table.index)
    frame = frame[(frame != "").any(axis=1)].copy()
    digits = frame[PHONE].str.replace(r"[\s\-–—()（）]", "", regex=True)
    digits = digits.str.replace(r"^(?:\+86|0086|86(?=1\d{10}$))", "", regex=True)
    valid = digits.str.fullmatch(MOBILE)
    frame["phone"] = digits.where(valid)
    frame["phone_malformed"] = (frame[PHONE] != "") & ~valid
    frame["is_head"] = frame[RELATION] == HEAD
    return frame


def check(frame: pd.DataFrame, problems: Problems) -> None:
    """Every check that needs only the file itself."""
    rows = frame.index.to_series(index=frame.index)
    problems.add(frame.index[frame[CODE] == ""], CODE, "code_missing", "The household number (户号) is empty.")
    problems.add(frame.index[frame[NAME] == ""], NAME, "name_missing", "The member's name (姓名) is empty.")
    for column, longest in LONGEST.items():
        too_long = frame[column].str.len() > longest
        problems.add(frame.index[too_long], column, "value_too_long", f"Longer than {longest} characters.")
    problems.add(
        frame.index[frame["phone_malformed"]],
        PHONE,
        "phone_malformed",
        "Not a mainland mobile number: 11 digits starting with 13 to 19 (+86, spaces and dashes are fine): "
        + frame[PHONE],
    )

    coded = frame[frame[CODE] != ""]
    coded_rows = rows.loc[coded.index]
    households = coded.groupby(CODE, sort=False)

    # A household lives in one village: every row of it names the same township and village as its first row.
    first_place = households[[TOWNSHIP, VILLAGE]].transform("first")
    elsewhere = (coded[TOWNSHIP] != first_place[TOWNSHIP]) | (coded[VILLAGE] != first_place[VILLAGE])
    first_of_household = coded_rows.groupby(coded[CODE]).transform("min")
    problems.add(
        coded.index[elsewhere],
        VILLAGE,
        "household_in_two_villages",
        "This household's first row (row " + first_of_household.astype(str) + ") names another township or village.",
    )

    # Exactly one head (户主) per household
    heads = households["is_head"].transform("sum")
    headless = (heads == 0) & (coded_rows == first_of_household)
    problems.add(
        coded.index[headless],
        RELATION,
        "no_head",
        "Household " + coded[CODE] + " has no member whose relation (与户主关系) is 户主.",
    )
    head_rows = coded_rows.where(coded["is_head"])
    first_head = head_rows.groupby(coded[CODE]).transform("min")
    second_heads = coded["is_head"] & (coded_rows != first_head)
    problems.add(
        coded.index[second_heads],
        RELATION,
        "two_heads",
        "Household "
        + coded[CODE]
        + " already has its head (户主) on row "
        + first_head.astype("Int64").astype(str)
        + ".",
    )

    # A member is known within a household by name: the same name twice in one household is ambiguous
    named = coded[coded[NAME] != ""]
    repeated = named.duplicated([CODE, NAME], keep="first")
    first_named = rows.loc[named.index].groupby([named[CODE], named[NAME]]).transform("min")
    problems.add(
        named.index[repeated],
        NAME,
        "member_repeated",
        named[NAME] + " is listed in this household already, on row " + first_named.astype(str) + ".",
    )

    # A phone belongs to one person: the same phone twice is a member in two households (same name) or a
    # phone given twice
    phoned = frame[frame["phone"].notna()]
    again = phoned.duplicated("phone", keep="first")
    by_phone = phoned.groupby("phone", sort=False)
    first_phone_row = rows.loc[phoned.index].groupby(phoned["phone"]).transform("min")
    first_name = by_phone[NAME].transform("first")
    first_code = by_phone[CODE].transform("first")
    two_households = again & (phoned[NAME] == first_name) & (phoned[CODE] != first_code)
    problems.add(
        phoned.index[two_households],
        CODE,
        "member_in_two_households",
        phoned[NAME]
        + " (this phone) is listed in household "
        + first_code
        + " already, on row "
        + first_phone_row.astype(str)
        + ".",
    )
    problems.add(
        phoned.index[again & ~two_households],
        PHONE,
        "phone_repeated",
        "This phone is given on row " + first_phone_row.astype(str) + " already; a phone belongs to one person.",
    )
