/** The weeks of the study page's picture (src/lab/reads.ts): Mondays in UTC, oldest first. */
import { lastMondays, mondayOf } from '../../src/lab/reads';

test('mondayOf: the Monday of a day, a Monday itself, across a month and a year', () => {
  expect(mondayOf('2026-12-03')).toBe('2026-11-30'); // a Thursday
  expect(mondayOf('2026-11-30')).toBe('2026-11-30');
  expect(mondayOf('2026-12-06')).toBe('2026-11-30'); // a Sunday ends the week
  expect(mondayOf('2027-01-01')).toBe('2026-12-28');
});

test('lastMondays: every week up to this one, oldest first', () => {
  expect(lastMondays(new Date('2026-12-03T23:30:00Z'), 3)).toEqual(['2026-11-16', '2026-11-23', '2026-11-30']);
});
