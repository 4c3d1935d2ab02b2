-- A user's OpenID Connect claims beyond the columns (issue 12): given_name,
-- family_name, phone_number, locale, email_verified, custom ones... as one JSON object,
-- released by scope at the UserInfo endpoint. Keep equivalent to the other flavour.
ALTER TABLE users ADD COLUMN claims TEXT NOT NULL DEFAULT '{}';
