// Entry point: tabs by URL hash (#realtime, #explorer); the real-time stream runs from page load.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { init as initExplorer } from './explorer';
import { connect } from './realtime';

let explorerStarted = false;

function route(): void {
  const tab = location.hash === '#explorer' ? 'explorer' : 'realtime';
  for (const id of ['realtime', 'explorer']) (document.getElementById(id) as HTMLElement).hidden = id !== tab;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) a.classList.toggle('on', a.dataset.tab === tab);
  if (tab === 'explorer' && !explorerStarted) {
    explorerStarted = true;
    void initExplorer();
  }
}

window.addEventListener('hashchange', route);
route();
connect();
