-- ARGV: prefix, arn, record JSON, name, assignable (0/1), draining (0/1),
-- created_at (ms), master (0/1)
register(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
return 1
