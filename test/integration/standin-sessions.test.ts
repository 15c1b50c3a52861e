import { freePort } from '../../agent/src/store/embedded-postgres';
import { Person } from '../support/person';
import { startStandinProcess, type StandinProcess } from '../support/standin-process';

/**
 * The stand-in's web sessions and crumbs (test/fixtures/standin-jenkins/sessions.js,
 * each behaviour cited there from jenkinsci/jenkins): a session and its crumb
 * belong to the controller that issued them.
 */
jest.setTimeout(60_000);

let blue: StandinProcess;
let green: StandinProcess;
const user = { name: 'alice', token: 'alice-token-1', password: 'alice-pw' };

beforeAll(async () => {
  blue = await startStandinProcess(await freePort(), { team: 'ss', environment: 'blue' });
  green = await startStandinProcess(await freePort(), { team: 'ss', environment: 'green' });
  for (const c of [blue, green]) await c.control({ users: [{ name: user.name, token: user.token, password: user.password }] });
});
afterAll(async () => {
  await blue?.close();
  await green?.close();
});

const sessionCookieName = (p: Person): string | undefined => p.sessionCookieName();

test('a form login gives a JSESSIONID.<8 hex> session whose crumb lets form POSTs through', async () => {
  const p = new Person(blue.port, 'localhost', user.name, user.password);
  await p.signIn();
  expect(sessionCookieName(p)).toMatch(/^JSESSIONID\.[0-9a-f]{8}$/);
  const page = await p.send('GET', '/');
  expect(page.status).toBe(200);
  await p.browse();
  expect(p.failures).toBe(0);
  const noCrumb = await p.send('POST', '/descriptorByName/hudson.model.FreeStyleProject/checkName', { body: 'value=x' });
  expect(noCrumb.status).toBe(403);
  expect(noCrumb.body).toContain('No valid crumb was included in the request');
});

test('each controller names its session cookie itself and knows only its own sessions', async () => {
  const a = new Person(blue.port, 'localhost', user.name, user.password);
  const b = new Person(green.port, 'localhost', user.name, user.password);
  await a.signIn();
  await b.signIn();
  expect(sessionCookieName(a)).not.toBe(sessionCookieName(b));
});

test('blue\'s session and crumb on green: the login page and a crumb 403', async () => {
  const p = new Person(blue.port, 'localhost', user.name, user.password);
  await p.signIn();
  // The same cookie jar sent to green.
  const moved = p.via(green.port);
  const page = await moved.send('GET', '/job/x/');
  expect(page.status).toBe(403);
  expect(page.body).toContain("url=/login?from=%2Fjob%2Fx%2F");
  const post = await moved.send('POST', '/descriptorByName/hudson.model.FreeStyleProject/checkName', { body: 'value=x', headers: { 'jenkins-crumb': 'whatever' } });
  expect(post.status).toBe(403);
  expect(post.body).toContain('No valid crumb was included in the request');
});

test('a wrong password goes to /loginError; a new crumb salt fails every crumb issued before it', async () => {
  const wrong = new Person(blue.port, 'localhost', user.name, 'nope');
  await expect(wrong.signIn()).rejects.toThrow('login of alice failed');
  const p = new Person(blue.port, 'localhost', user.name, user.password);
  await p.signIn();
  await blue.control({ rotateCrumbSalt: true });
  await p.browse();
  expect(p.failures).toBe(1); // the page is fine, the form POST is refused
  await p.fetchCrumb();
  await p.browse();
  expect(p.failures).toBe(1);
});

test('after a restart (sessions forgotten) the person is signed out', async () => {
  const p = new Person(blue.port, 'localhost', user.name, user.password);
  await p.signIn();
  await blue.control({ forgetSessions: true });
  const page = await p.send('GET', '/');
  expect(page.status).toBe(403);
});
