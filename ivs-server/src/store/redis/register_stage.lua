-- ARGV: arn, record JSON, name, assignable (0/1), draining (0/1),
-- created_at (ms), master (0/1)
register(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
return 1
