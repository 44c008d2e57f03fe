"""Claims (a household asks for points), official review, deductions, the notice board, objections and appeals."""
