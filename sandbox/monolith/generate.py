#!/usr/bin/env python3
"""Deterministic data for the yemma monolith (yemma_db).

    python3 generate.py --size-mb 200 | psql -v ON_ERROR_STOP=1 -U postgres -d yemma_db

Prints SQL that fills the 22 tables of schema.sql (loaded, still empty) with
server-side `INSERT ... SELECT ... FROM generate_series(...)`: every value is
derived from the row number (md5/sha512 of it, modulo arithmetic; no random(),
no now()), so the same --size-mb gives identical data, and the client memory is
flat whatever the size (the server streams each chunk of CHUNK rows).

Sizing.  An empty yemma_db with schema.sql is ~8.6 MB (PostgreSQL's catalogs);
the generator fills the rest: users = USERS_PER_MB * (size_mb - OVERHEAD_MB)
(at least MIN_USERS), the other big tables follow users with fixed ratios (see
counts(); small tables - roles 5, plans 4 - are fixed).  Per MB of data that is
152 users, ~4 360 rows: 2 280 access_logs, 608 notifications, 38 documents,
304 refresh tokens, ~100 profiles with ~700 child rows, ~8 companies with ~75
company/payment rows.  Measured on PostgreSQL 15, default settings, 2 vCPU
(pg_database_size after the final ANALYZE; psql over a Unix socket):

    --size-mb   users   rows (22 tables)   database size    time
           10     213          6 299           10.8 MB        0.5 s
          200  29 093        872 389          200.0 MB        12 s
         5000 758 693     22 750 290         5000.2 MB       343 s

Volume shares: access_logs 36 %, notifications 21 %, documents 16 % (bytea,
mostly TOASTed), refresh_tokens 6 %, the candidate tables 14 %.

Coverage: serial, identity and uuid keys (uuids are md5-derived); every label
of every enum; jsonb, text[] (with NULL and quoted elements), numeric, inet (v4
and v6), bytea (with NUL bytes; some NULL), the postal_address composite (some
NULL fields), citext; timestamptz over 2025-2026 (access_logs also in 2024 and
2027, i.e. the default partition); text with tabs, newlines, backslashes, lines
made of `\\.`, non-ASCII and emoji; NULLs in every nullable column.  All
constraints hold (slug check, FKs, live-token partial unique index - revoked
tokens duplicate live ones on purpose -, ck_quotas_usage, ck_experiences_dates,
positive amounts).  Explicit ids, then every sequence is set past them.

Needs a UTF8 database (yemma_db is).  One transaction, then ANALYZE.
"""
import argparse
import json
import sys

OVERHEAD_MB = 8.6    # pg_database_size of an empty yemma_db with schema.sql
USERS_PER_MB = 152   # calibrated: see the table above
MIN_USERS = 200
CHUNK = 100_000      # rows per INSERT statement

# 2025-01-01 .. 2026-12-31 in seconds; ts() spreads rows over it.
TWO_YEARS = 730 * 86400


def ts(expr, mult=7919, base="2025-01-01", span=TWO_YEARS):
    """Deterministic timestamptz in [base, base + span) derived from an integer expression."""
    return (f"(timestamptz '{base} 00:00:00+00' + "
            f"((({expr})::bigint * {mult}) % {span}) * interval '1 second')")


def pick(expr, *values):
    """SQL choosing among literal values by expr modulo their number."""
    return f"(ARRAY[{', '.join(values)}])[1 + ({expr}) % {len(values)}]"


def q(text):
    """SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


# Text that trips naive dump/restore or COPY handling: tab, newline, backslashes
# (a literal backslash-t too), a line made of `\.` (COPY's end marker), CRLF,
# quotes, non-ASCII and emoji.
TRICKY = (r"E'Résumé ligne 1\n\tindenté après une tabulation\n"
          r"C:\\Users\\zoé\\tpas-une-tabulation\n\\.\n"
          r"\"guillemets\" et ''apostrophes''\r\n日本語のテキスト 🚀 Ünïcödé'")

FIRST = ["Zoé", "Jürgen", "Ana-María", "O'Brien", "Ærøskøbing", "Łukasz", "日本", "Chloë"]
LAST = ["Lefèvre", "Müller", "García", "Nguyễn", "Smith", "山田", "Ødegård", "Dupont"]
COMPANIES = ["Müller GmbH", "L'Oréal", "株式会社ヤマ", "Société Générale", "Zürich Ins.", "ACME"]
SKILLS = ["Python", "SQL/PostgreSQL", "C++", "C#", "Node.js", "Rust 🦀", "Go", "Java",
          "Kubernetes", "Ansible", "Français", "Deutsch", "日本語", "Español", "Docker",
          "Linux", "React", "Vue.js", "Scrum", "UX/UI"]


def counts(size_mb):
    """Rows per table for a target database size (MB)."""
    u = max(MIN_USERS, round(USERS_PER_MB * (size_mb - OVERHEAD_MB)))
    reserved = max(20, u // 50)  # highest user ids keep no profile (candidate's default user_id)
    top = u - reserved
    p = 7 * (top // 10) + min(7, top % 10)  # users with (id-1) % 10 < 7 get a profile
    c = max(5, u // 20)
    s = c + c // 3
    pay = 6 * s
    return {
        "users": u, "roles": 5, "user_roles": u + 1, "refresh_tokens": 2 * u,
        "admin_invitation_tokens": max(3, u // 100),
        "profiles": p, "experiences": 2 * p, "educations": p, "certifications": (p + 1) // 2,
        "skills": 3 * p, "job_preferences": p - p // 4,
        "companies": c, "team_members": 2 * (u // 10) + max(0, u % 10 - 7),
        "invitations": 2 * c,
        "plans": 4, "subscriptions": s, "payments": pay, "invoices": (pay + 1) // 2, "quotas": c,
        "documents": u // 4, "notifications": 4 * u, "access_logs": 15 * u,
    }


def series(total, body, lateral=None):
    """INSERTs of `body` (a SELECT over g(i), i bigint) in chunks of CHUNK rows.
    `lateral`: an extra FROM item computed from i (a LATERAL subquery)."""
    extra = f",\n     {lateral}" if lateral else ""
    for lo in range(1, total + 1, CHUNK):
        hi = min(total, lo + CHUNK - 1)
        yield f"{body}\nFROM generate_series({lo}::bigint, {hi}::bigint) AS g(i){extra};\n"


def statements(n):
    """The SQL, statement by statement (n = counts())."""
    U, P, C, S = n["users"], n["profiles"], n["companies"], n["subscriptions"]
    T = n["team_members"]
    # user id of the t-th recruiter: ids whose (id-1) % 10 is 7 or 8.
    recruiter = "(((({t}) - 1) / 2) * 10 + 8 + (({t}) - 1) % 2)"

    yield "-- auth\n"
    yield from series(U, f"""INSERT INTO users (id, email, hashed_password, full_name, status, is_superuser, created_at, updated_at)
SELECT i,
       CASE WHEN i % 3 = 0 THEN 'User.' || i || '@Example.COM' ELSE 'user' || i || '@example.com' END,
       '$2b$12$' || md5('pw' || i) || left(md5('salt' || i), 21),
       CASE WHEN i % 17 = 0 THEN NULL ELSE {pick('i', *map(q, FIRST))} || ' ' || {pick('i / 8', *map(q, LAST))} END,
       (CASE WHEN i % 10 < 6 THEN 'active' WHEN i % 10 < 8 THEN 'pending'
             WHEN i % 10 = 8 THEN 'suspended' ELSE 'deleted' END)::userstatus,
       i % 1000 = 1,
       {ts('i')}, {ts('i')} + (i % 5000) * interval '1 minute'""")
    yield """INSERT INTO roles (id, name, description) VALUES
    (1, 'admin', 'Administrateur — accès complet'), (2, 'candidate', 'Candidat·e'),
    (3, 'recruiter', 'Recruteur'), (4, 'support', E'Support\\tclient\\n(N1/N2)'), (5, 'auditor', NULL);
"""
    yield from series(U, """INSERT INTO user_roles (user_id, role_id)
SELECT i, CASE WHEN (i - 1) % 10 < 7 THEN 2 WHEN (i - 1) % 10 < 9 THEN 3 ELSE 4 END""")
    yield "INSERT INTO user_roles (user_id, role_id) VALUES (1, 1);\n"
    # Every 6th token is revoked AND repeats the (live) token of the row before:
    # legal only because the unique index is partial (WHERE NOT revoked).
    yield from series(2 * U, f"""INSERT INTO refresh_tokens (id, user_id, token, revoked, expires_at)
SELECT i, (i + 1) / 2,
       CASE WHEN i % 6 = 0 THEN md5('rt' || (i - 1)) || md5('rt2' || (i - 1))
            ELSE md5('rt' || i) || md5('rt2' || i) END,
       i % 3 = 0,
       {ts('i', 104729)} + interval '30 days'""")
    yield from series(n["admin_invitation_tokens"], f"""INSERT INTO admin_invitation_tokens (id, email, invited_by, used_at, created_at)
SELECT md5('ait' || i)::uuid, 'Invite' || i || '@Yemma.test',
       CASE WHEN i % 4 = 0 THEN NULL ELSE 1 END,
       CASE WHEN i % 2 = 0 THEN NULL ELSE {ts('i', 31)} + interval '2 days' END,
       {ts('i', 31)}""")

    yield "-- candidate\n"
    yield from series(P, f"""INSERT INTO profiles (id, user_id, first_name, last_name, headline, summary, status, years_of_exp, created_at, updated_at)
SELECT i, ((i - 1) / 7) * 10 + (i - 1) % 7 + 1,
       {pick('i', *map(q, FIRST))}, {pick('i / 3', *map(q, LAST))},
       CASE WHEN i % 11 = 0 THEN NULL ELSE 'Développeur·se ' || {pick('i', *map(q, SKILLS))} END,
       CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN {TRICKY}
            ELSE 'Profil ' || i || ' — ' || md5('s' || i) || ' ' || md5('t' || i) || ' ' || md5('u' || i) END,
       {pick('i', *(q(s) for s in ('draft', 'submitted', 'in_review', 'validated', 'rejected', 'archived')))}::profilestatus,
       CASE WHEN i % 9 = 0 THEN NULL ELSE i % 30 END,
       {ts('i', 6007)}, {ts('i', 6007)} + (i % 900) * interval '1 hour'""")
    yield from series(2 * P, f"""INSERT INTO experiences (id, profile_id, title, company, description, start_date, end_date)
SELECT i, (i + 1) / 2,
       {pick('i', q('Ingénieur·e logiciel'), q('Data analyst'), q('Chef de projet'), q('DevOps 🚀'), q('Stagiaire'))},
       {pick('i / 2', *map(q, COMPANIES))},
       CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN {TRICKY} ELSE 'Missions : ' || md5('e' || i) || ' ' || md5('f' || i) END,
       d.start_date,
       CASE WHEN i % 3 = 0 THEN NULL ELSE d.start_date + (30 + i % 2000)::int END""",
                      lateral="LATERAL (SELECT date '2005-01-01' + ((i * 37) % 6000)::int AS start_date) AS d")
    yield from series(P, f"""INSERT INTO educations (id, profile_id, school, degree, start_year, end_year)
SELECT i, i, {pick('i', q('Université Paris-Saclay'), q('ETH Zürich'), q('東京大学'), q('École 42'), q("Lycée Saint-Exupéry"))},
       CASE WHEN i % 6 = 0 THEN NULL ELSE {pick('i', q('Master'), q('Licence'), q('BTS'), q('Doctorat'), q('Diplôme d''ingénieur'))} END,
       CASE WHEN i % 13 = 0 THEN NULL ELSE 1995 + i % 25 END,
       CASE WHEN i % 7 = 0 THEN NULL ELSE 1995 + i % 25 + 2 + i % 4 END""")
    yield from series(n["certifications"], f"""INSERT INTO certifications (id, profile_id, name, issuer, issued_on)
SELECT i, 2 * i - 1, {pick('i', q('AWS Solutions Architect'), q('TOEIC 950'), q('PSM I'), q('CKA'), q('Goethe-Zertifikat C1'))},
       CASE WHEN i % 3 = 0 THEN NULL ELSE {pick('i', q('Amazon'), q('ETS'), q('Scrum.org'), q('CNCF'), q('Goethe-Institut'))} END,
       CASE WHEN i % 5 = 0 THEN NULL ELSE date '2015-01-01' + ((i * 53) % 3650)::int END""")
    yield from series(3 * P, f"""INSERT INTO skills (id, profile_id, name, level)
SELECT i, (i - 1) / 3 + 1,
       {pick('(i - 1) / 3 + 1 + 7 * ((i - 1) % 3)', *map(q, SKILLS))},
       1 + i % 5""")
    # Profiles whose id is a multiple of 4 have no preferences: i-th row -> profile i + (i-1)/3.
    yield from series(n["job_preferences"], f"""INSERT INTO job_preferences (id, profile_id, contract_types, salary_min, remote, details)
SELECT i, i + (i - 1) / 3,
       CASE i % 5 WHEN 0 THEN '{{}}'::text[] WHEN 1 THEN ARRAY['cdi'] WHEN 2 THEN ARRAY['cdi', 'freelance']
            WHEN 3 THEN ARRAY['stage', 'alternance', 'temps partiel, "flex"'] ELSE ARRAY['cdd', NULL] END,
       CASE WHEN i % 6 = 0 THEN NULL ELSE (30000 + (i * 137) % 70000) + (i % 100) / 100.0 END,
       CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END,
       jsonb_build_object(
           'cities', jsonb_build_array({pick('i', q('Paris'), q('Lyon'), q('Zürich'), q('東京'))}, {pick('i / 4', q('Nantes'), q('Genève'), q('Montréal'))}),
           'note', CASE i % 4 WHEN 0 THEN 'Télétravail ✓ 日本語 🚀' WHEN 1 THEN E'ligne\\nsuivante\\t"cité" \\\\ antislash' ELSE 'standard' END,
           'mobility_km', i % 200,
           'nested', jsonb_build_object('null_value', NULL::text, 'flag', i % 2 = 0, 'ratio', round((i % 7) / 7.0, 4)))""")

    yield "-- company\n"
    yield from series(C, f"""INSERT INTO companies (id, name, slug, address, created_at, updated_at)
SELECT i,
       CASE i % 4 WHEN 0 THEN 'Société ' || i || ' SARL' WHEN 1 THEN 'Müller & Söhne ' || i || ' GmbH'
            WHEN 2 THEN '株式会社 ' || i ELSE 'Start-up «' || i || '» 🚀' END,
       'company-' || i || CASE WHEN i % 3 = 0 THEN '-sas' ELSE '' END,
       CASE WHEN i % 7 = 0 THEN NULL
            ELSE ROW((1 + i % 150) || ', rue de l''Église', {pick('i', q('Paris'), q('Lyon'), q('Zürich'), q('Tōkyō'), q('Saint-Étienne'))},
                     CASE WHEN i % 5 = 0 THEN NULL ELSE lpad((i * 97 % 99999)::text, 5, '0') END,
                     {pick('i', q('FR'), q('FR'), q('CH'), q('JP'), q('FR'))})::postal_address END,
       {ts('i', 4409)}, {ts('i', 4409)} + (i % 300) * interval '1 day'""")
    yield from series(T, f"""INSERT INTO team_members (id, company_id, user_id, role)
SELECT i, 1 + ((i - 1) / 2) % {C}, {recruiter.format(t='i')},
       CASE WHEN i % 6 = 0 THEN 'admin' WHEN i % 2 = 1 THEN 'owner' ELSE 'recruiter' END""")
    yield from series(2 * C, f"""INSERT INTO invitations (id, company_id, email, invited_by, status, created_at)
SELECT md5('inv' || i)::uuid, (i + 1) / 2, 'candidat' || i || '@example.org',
       CASE WHEN i % 5 = 0 THEN NULL ELSE {recruiter.format(t=f'1 + i % {T}')} END,
       {pick('i', *(q(s) for s in ('pending', 'accepted', 'expired', 'revoked')))}::invitationstatus,
       {ts('i', 2711)}""")

    yield "-- payment\n"
    yield """INSERT INTO plans (id, code, name, price_cents, features) VALUES
    (1, 'free', 'Gratuit', 0, '{"offers": 1, "support": null}'),
    (2, 'starter', 'Starter', 2900, '{"offers": 5, "support": "email"}'),
    (3, 'pro', 'Pro', 9900, '{"offers": 25, "support": "chat", "export": ["csv", "xlsx"]}'),
    (4, 'enterprise', 'Entreprise — sur mesure', 49900,
        '{"offers": null, "support": "dédié 24/7", "sso": {"saml": true, "oidc": true}, "note": "Ü\\n日本"}');
"""
    yield from series(S, f"""INSERT INTO subscriptions (id, company_id, plan_id, status, started_at, ends_at)
SELECT i,
       CASE WHEN i <= {C} THEN i ELSE 3 * (i - {C}) END,
       CASE WHEN i <= {C} THEN 1 + i % 4 ELSE 1 END,
       CASE WHEN i <= {C} THEN {pick('i', *(q(s) for s in ('trialing', 'active', 'past_due', 'canceled')))}
            ELSE 'canceled' END::subscriptionstatus,
       {ts('i', 3571)},
       CASE WHEN i <= {C} AND i % 4 IN (0, 1) THEN NULL ELSE {ts('i', 3571)} + interval '90 days' END""")
    yield from series(n["payments"], f"""INSERT INTO payments (id, subscription_id, amount_cents, currency, status, provider_ref, paid_at)
SELECT i, 1 + (i - 1) % {S}, 500 + (i * 7919) % 100000,
       CASE i % 10 WHEN 0 THEN 'USD' WHEN 1 THEN 'CHF' ELSE 'EUR' END,
       {pick('i', *(q(s) for s in ('pending', 'succeeded', 'failed', 'refunded')))}::paymentstatus,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'pi_' || left(md5('pay' || i), 24) END,
       CASE WHEN i % 2 = 1 THEN {ts('i', 1201)} END""")
    # Odd payments have an invoice; numbers as the default would make them, sequence set after.
    yield from series(n["invoices"], f"""INSERT INTO invoices (id, payment_id, number, pdf, issued_at)
SELECT i, 2 * i - 1, 'INV-' || lpad((999 + i)::text, 8, '0'),
       CASE WHEN i % 5 = 0 THEN NULL
            ELSE convert_to(E'%PDF-1.4\\n', 'UTF8') || sha512(('inv' || i)::bytea) || sha512(('pdf' || i)::bytea)
                 || '\\x000aff0d'::bytea || convert_to('%%EOF', 'UTF8') END,
       {ts('i', 1201)} + interval '1 hour'""")
    yield from series(C, """INSERT INTO quotas (id, company_id, max_offers, used_offers)
SELECT i, i, 5 + i % 20, i % (6 + i % 20)""")

    yield "-- document\n"
    # content: 64 * (16 + i % 96) bytes of sha512 output (incompressible, NUL bytes
    # included; 1-7 KB, so most of it goes to TOAST); every 10th document has none.
    yield from series(n["documents"], f"""INSERT INTO documents (id, owner_user_id, kind, filename, mime_type, extracted_text, content, uploaded_at)
SELECT md5('doc' || i)::uuid, 1 + (i * 7919) % {U},
       {pick('i', *(q(s) for s in ('cv', 'cover_letter', 'diploma', 'other')))}::documenttype,
       CASE i % 4 WHEN 0 THEN 'CV_' || {pick('i / 4', *map(q, FIRST))} || '.pdf'
            WHEN 1 THEN 'Lettre de motivation n°' || i || '.docx'
            WHEN 2 THEN '卒業証書_' || i || '.pdf' ELSE 'scan (' || i || ') 🙂.png' END,
       {pick('i', q('application/pdf'), q('application/vnd.openxmlformats-officedocument.wordprocessingml.document'), q('application/pdf'), q('image/png'))},
       CASE i % 6 WHEN 0 THEN NULL WHEN 1 THEN {TRICKY}
            ELSE 'Texte extrait ' || i || ' : ' || md5('x' || i) || ' ' || md5('y' || i) END,
       CASE WHEN i % 10 = 0 THEN NULL
            ELSE (SELECT string_agg(sha512((i || ':' || k)::bytea), ''::bytea ORDER BY k)
                  FROM generate_series(1, 16 + i % 96) AS k) END,
       {ts('i', 8803)}""")

    yield "-- notification\n"
    yield from series(n["notifications"], f"""INSERT INTO notifications (id, user_id, channel, subject, body, payload, sent_at, read_at, created_at)
SELECT i, 1 + (i * 7907) % {U},
       {pick('i', *(q(s) for s in ('email', 'sms', 'in_app')))}::notificationchannel,
       CASE WHEN i % 7 = 0 THEN NULL ELSE {pick('i', q('Bienvenue 👋'), q('Nouvelle offre'), q('Rappel : entretien'), q('Facture disponible'), q('面接のお知らせ'))} END,
       CASE i % 5 WHEN 0 THEN {TRICKY} ELSE 'Bonjour, notification n°' || i || ' — ' || md5('n' || i) || ' ' || md5('o' || i) END,
       CASE WHEN i % 4 = 0 THEN NULL
            ELSE jsonb_build_object('event', {pick('i', q('profile.validated'), q('offer.new'), q('invoice.issued'))}, 'ref', i,
                                    'meta', jsonb_build_object('lang', 'fr', 'emoji', '🎉', 'empty', '{{}}'::jsonb),
                                    'tags', jsonb_build_array('a', i % 10, NULL)) END,
       CASE WHEN i % 3 = 0 THEN NULL ELSE {ts('i', 9001)} + interval '1 minute' END,
       CASE WHEN i % 2 = 0 THEN NULL ELSE {ts('i', 9001)} + interval '1 hour' END,
       {ts('i', 9001)}""")

    yield "-- audit (partitions 2025, 2026 and default: i % 20 = 0 -> 2024, 1 -> 2027)\n"
    yield from series(n["access_logs"], f"""INSERT INTO access_logs (id, user_id, method, path, status, ip, user_agent, created_at)
SELECT i, CASE WHEN i % 6 = 0 THEN NULL ELSE 1 + (i * 7901) % {U} END,
       {pick('i', *(q(s) for s in ('GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS')))},
       '/api/v1/' || {pick('i', q('profiles'), q('companies'), q('documents'), q('auth/login'), q('notifications'))} || '/' || i % 5000
           || CASE WHEN i % 13 = 0 THEN '?q=caf%C3%A9&tag=日本' ELSE '' END,
       (ARRAY[200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 500])[1 + i % 11],
       CASE i % 10 WHEN 0 THEN NULL WHEN 1 THEN ('2001:db8::' || to_hex(i % 65536))::inet
            ELSE ('10.' || (i / 65536) % 256 || '.' || (i / 256) % 256 || '.' || i % 256)::inet END,
       CASE WHEN i % 9 = 0 THEN NULL ELSE {pick('i', q('Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0'), q('curl/8.5.0'), q('yemma-mobile/2.3 (iOS 17; fr_FR) 📱'))} END,
       CASE i % 20 WHEN 0 THEN {ts('i', 7919, '2024-01-01', 365 * 86400)}
                   WHEN 1 THEN {ts('i', 7919, '2027-01-01', 365 * 86400)}
                   ELSE {ts('i', 7919)} END""")

    # Explicit ids were inserted: move every sequence past them (quietly, in a DO block).
    owned = ["users", "roles", "refresh_tokens", "profiles", "experiences", "educations",
             "certifications", "skills", "job_preferences", "companies", "team_members",
             "plans", "subscriptions", "payments", "invoices", "quotas", "notifications",
             "access_logs"]
    setvals = "\n".join(f"    PERFORM setval(pg_get_serial_sequence('{t}', 'id'), {n[t]});" for t in owned)
    yield f"""DO $$ BEGIN
{setvals}
    PERFORM setval('invoice_number_seq', {999 + n['invoices']});
END $$;
"""


def main():
    parser = argparse.ArgumentParser(
        description="Print SQL filling an empty yemma_db (schema.sql loaded) with deterministic "
                    "data of about SIZE_MB megabytes (pg_database_size).",
        epilog="Example: python3 generate.py --size-mb 200 | "
               "docker exec -i yemma-postgres psql -v ON_ERROR_STOP=1 -U postgres -d yemma_db")
    parser.add_argument("--size-mb", type=float, required=True, metavar="SIZE_MB",
                        help="target database size in MB (10 to 5000+)")
    parser.add_argument("--counts", action="store_true",
                        help="print the row count of each table as JSON instead of SQL")
    args = parser.parse_args()
    if args.size_mb <= 0:
        parser.error("--size-mb must be positive")
    n = counts(args.size_mb)
    if args.counts:
        print(json.dumps(n, indent=2))
        return
    out = sys.stdout
    out.write(f"-- yemma_db data, generated by generate.py --size-mb {args.size_mb:g}\n")
    out.write("-- rows: " + ", ".join(f"{t}={c}" for t, c in n.items()) + "\n")
    out.write("\\set ON_ERROR_STOP on\nSET client_encoding = 'UTF8';\n"
              "SET client_min_messages = warning;\nBEGIN;\n")
    for stmt in statements(n):
        out.write(stmt)
    out.write("COMMIT;\nANALYZE;\n")


if __name__ == "__main__":
    main()
