"""The campaign dashboard in admin: one campaign, or all campaigns, over a chosen
period. `queries` reads (a bounded number of aggregate queries, whatever the number
of rewards), `charts` lays the figures out as SVG, `views` serves the page and the
rewards' CSV export (`export`)."""
