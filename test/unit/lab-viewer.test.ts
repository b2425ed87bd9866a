import { OPERATOR, seesStudy, studyFilter, userViewer } from '../../src/lab/viewer';
import { daysSince } from '../../src/lab/views/parts';
import { lastMondays } from '../../src/lab/reads';

const user = (fields: { admin?: boolean; staff?: boolean; studies?: string[] }) => ({
  id: 7,
  name: 'Rui',
  admin: fields.admin ?? false,
  staff: fields.staff ?? false,
  studies: (fields.studies ?? []).map((id) => ({ id })),
});

test('admins act, staff look, anyone else stays out', () => {
  expect(userViewer(user({ admin: true }))).toMatchObject({ canAct: true, studies: null });
  expect(userViewer(user({ staff: true }))).toMatchObject({ canAct: false, studies: null });
  expect(userViewer(user({ admin: true, staff: true }))?.canAct).toBe(true);
  expect(userViewer(user({}))).toBeNull();
});

test("a user's studies are the only ones they see; none listed: all", () => {
  const limited = userViewer(user({ staff: true, studies: ['SPN01'] }))!;
  expect(seesStudy(limited, 'SPN01')).toBe(true);
  expect(seesStudy(limited, 'OTH01')).toBe(false);
  expect(studyFilter(limited)).toEqual(['SPN01']);
  expect(seesStudy(OPERATOR, 'OTH01')).toBe(true);
  expect(studyFilter(OPERATOR)).toBeUndefined();
});

test('days since, in words', () => {
  const now = new Date(2026, 11, 3, 9, 0);
  expect(daysSince(new Date(2026, 11, 3, 1, 0), now)).toBe('today');
  expect(daysSince(new Date(2026, 11, 2, 23, 0), now)).toBe('yesterday');
  expect(daysSince(new Date(2026, 10, 20), now)).toBe('13 days ago');
  expect(daysSince(new Date(2026, 11, 5), now)).toBe('in 2 days');
});

test('the weeks of the picture: Mondays, oldest first, this week last', () => {
  expect(lastMondays(new Date('2026-12-03T12:00:00Z'), 3)).toEqual(['2026-11-16', '2026-11-23', '2026-11-30']);
  expect(lastMondays(new Date('2026-11-30T00:00:00Z'), 1)).toEqual(['2026-11-30']);
});
